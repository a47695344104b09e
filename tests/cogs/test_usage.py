"""What each dream costs, through Discord: charged to who asked, a daily quota refused in words at admission, /usage
for a member and a server, and a light member's job overtaking a heavy member's under least_used, never under turns."""

from __future__ import annotations

import asyncio
import time

from bot.usage.charges import Charge
from bot.usage.ledger import DAY, day_start
from tests.support.discord_bot import dream, job_id_of, option, settings
from tests.support.discord_emulator import MANAGE_GUILD, Member


async def usage(emulator, member: Member, *options) -> str:
    asked = await emulator.slash("usage", list(options), member=member)
    return await emulator.wait_for(lambda: emulator.reply_text(asked))


async def test_a_finished_job_is_charged_to_its_member_and_shown_by_usage(bot, emulator):
    alice, bob = Member(emulator.snowflake(), "alice"), Member(emulator.snowflake(), "bob")
    _, text = await dream(emulator, "a castle", member=alice)
    job = job_id_of(text)
    await emulator.wait_title(job, "Done")
    async with asyncio.timeout(600):
        while not (charges := await bot.store.charges(10)):
            await asyncio.sleep(0.02)
    [charge] = charges
    stored = await bot.store.job(job)
    assert (charge.job_id, charge.guild_id, charge.user_id) == (job, emulator.guild_id, alice.id)
    assert charge.seconds == stored.finished - stored.started
    minutes = f"{charge.seconds / 60:.1f}"
    assert (await usage(emulator, alice)).startswith(f"GPU-minutes: {minutes} today, {minutes} in 7 days, {minutes} in all.")
    assert (await usage(emulator, bob)).startswith("GPU-minutes: 0.0 today, 0.0 in 7 days, 0.0 in all.")
    assert "no job of yours waits" in await usage(emulator, alice)


async def test_a_member_over_the_daily_quota_is_refused_with_what_is_left_and_when_it_refills(bot, emulator):
    alice, bob = Member(emulator.snowflake(), "alice"), Member(emulator.snowflake(), "bob")
    mod = Member(emulator.snowflake(), "mod", permissions=MANAGE_GUILD)
    assert "is now 1" in await settings(emulator, "set", mod, key="daily_gpu_minutes", value="1")
    await bot.store.charge(Charge("earlier", emulator.guild_id, alice.id, time.time(), 60.0, 1.0))
    _, text = await dream(emulator, "a castle", member=alice)
    refills = int(day_start(time.time()) + DAY)
    assert (
        text.startswith("This would take about ")
        and f"you have 0.0 of your 1 a day left. Your minutes refill <t:{refills}:R>" in text
    )
    assert await bot.store.jobs() == [], "nothing was queued"
    _, text = await dream(emulator, "a castle", member=bob)
    assert "job `" in text, "another member's day is their own"
    shown = await usage(emulator, alice)
    assert "Your quota: 1 a day; 0.0 left; it refills" in shown


async def test_usage_server_is_for_moderators_and_ranks_the_servers_members(bot, emulator):
    alice, bob = Member(emulator.snowflake(), "alice"), Member(emulator.snowflake(), "bob")
    mod = Member(emulator.snowflake(), "mod", permissions=MANAGE_GUILD)
    now = time.time()
    for job_id, user, seconds, at in (
        ("a", alice.id, 600.0, now),
        ("b", bob.id, 1200.0, now),
        ("c", bob.id, 60.0, now - 8 * DAY),
    ):
        await bot.store.charge(Charge(job_id, emulator.guild_id, user, at, seconds, 1.0))
    await bot.store.charge(Charge("elsewhere", emulator.guild_id + 1, alice.id, now, 6000.0, 1.0))
    refused = await usage(emulator, alice, option("server", True, 5))
    assert refused.startswith("Only moderators")
    shown = await usage(emulator, mod, option("server", True, 5))
    assert "30.0 GPU-minutes today, 30.0 in 7 days, 31.0 in all" in shown
    assert shown.index(f"1. <@{bob.id}>: 20.0") < shown.index(f"2. <@{alice.id}>: 10.0")


async def test_a_light_members_job_overtakes_a_heavy_members_under_least_used_and_never_under_turns(bot, emulator):
    heavy, light, holder = (Member(emulator.snowflake(), name) for name in ("heavy", "light", "holder"))
    mod = Member(emulator.snowflake(), "mod", permissions=MANAGE_GUILD)
    await bot.store.charge(Charge("history", emulator.guild_id, heavy.id, time.time(), 3600.0, 1.0))
    for fairness, first in (("turns", heavy), ("least_used", light)):
        assert "is now" in await settings(emulator, "set", mod, key="fairness", value=fairness)
        _, text = await dream(emulator, "hold", option("steps", 1000, 4), member=holder)
        held = job_id_of(text)
        await emulator.wait_title(held, "Painting")
        heavy_job = job_id_of((await dream(emulator, "heavy's", member=heavy))[1])
        light_job = job_id_of((await dream(emulator, "light's", member=light))[1])
        order = [job.id for job in await bot.scheduler.order()]
        assert order == ([heavy_job, light_job] if first is heavy else [light_job, heavy_job]), fairness
        assert await bot.actions.scheduler.cancel(await bot.store.job(held))
        for job in (heavy_job, light_job):
            await emulator.wait_title(job, "Done")
        started = {job: (await bot.store.job(job)).started for job in (heavy_job, light_job)}
        assert min(started, key=started.get) == (heavy_job if first is heavy else light_job), fairness


async def test_the_local_engine_says_its_memory_and_a_dream_it_cannot_hold_is_refused_before_it_queues(bot, emulator):
    alice = Member(emulator.snowflake(), "alice")
    async with asyncio.timeout(600):
        while not bot.supervisor.memories():
            await asyncio.sleep(0.02)
    [memory] = bot.supervisor.memories()
    assert memory > 1, "the engine on a CPU says the machine's memory"
    bot.supervisor.memory_gib = 0.2  # a small device: the test config's tiny-vqgan needs about 0.5 GiB
    _, text = await dream(emulator, "a castle", member=alice)
    assert text.startswith("This needs about 0.5 GiB of memory, more than any engine here has (the largest: 0.2 GiB).")
    assert await bot.store.jobs() == [], "nothing was queued"
    bot.supervisor.memory_gib = memory
    _, text = await dream(emulator, "a castle", member=alice)
    assert "job `" in text


async def test_max_size_auto_admits_what_the_engines_memory_holds_and_refuses_the_rest_with_the_size_that_fits(bot, emulator):
    alice = Member(emulator.snowflake(), "alice")
    mod = Member(emulator.snowflake(), "mod", permissions=MANAGE_GUILD)
    async with asyncio.timeout(600):
        while not bot.supervisor.memories():
            await asyncio.sleep(0.02)
    bot.supervisor.memory_gib = 4.0  # the pixels painter at 1024x1024 needs about 6.6 GiB, at 512x512 about 3.5
    big = (option("model", "pixels"), option("size", "1024x1024"))
    _, text = await dream(emulator, "a castle", *big, member=alice)
    assert "larger than this server allows (512x512)" in text
    assert "is now auto" in await settings(emulator, "set", mod, key="max_size", value="auto")
    _, text = await dream(emulator, "a castle", *big, member=alice)
    assert "more than any engine here has (the largest: 4.0 GiB). The largest size that fits is " in text
    fits = text.split("The largest size that fits is ")[1].split(";")[0]
    assert 512 <= int(fits.split("x")[0]) < 1024
    _, text = await dream(emulator, "a castle", option("model", "pixels"), option("size", fits), member=alice)
    assert "job `" in text, "the size it offered is admitted"
