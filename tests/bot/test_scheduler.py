"""The scheduler, through the running bot: the engine is a separate process, a crash retries the job
once on a fresh engine, a second crash fails it and the queue goes on; a restart of the bot loses no job."""

from __future__ import annotations

import os
import signal

from tests.support.discord_bot import dream, job_id_of, option, running_bot
from tests.support.discord_emulator import Member


async def queue(emulator, prompt: str, steps: int, member: Member | None = None) -> str:
    return job_id_of((await dream(emulator, prompt, option("steps", steps, 4), member=member))[1])


async def mid_job(emulator, job: str, title: str = "Painting") -> dict:
    """Wait until the engine reports steps of ``job`` (its message shows a Step field)."""

    def stepping():
        message = emulator.job_message(job)
        embed = message["embeds"][0] if message else {}
        return title in embed.get("title", "") and any(f["name"] == "Step" for f in embed.get("fields", [])) and message

    return await emulator.wait_for(stepping, 60)


async def test_a_dead_engine_is_restarted_and_the_job_retried_once(bot, emulator):
    job = await queue(emulator, "a phoenix", 80)
    await mid_job(emulator, job)
    first_engine = bot.supervisor.pid
    os.kill(first_engine, signal.SIGKILL)
    await emulator.wait_title(job, "second try", 60)
    message = await emulator.wait_title(job, "Done", 120)
    assert bot.supervisor.pid != first_engine
    stored = await bot.store.job(job)
    assert stored.state == "done" and stored.attempts == 2 and stored.message_id == int(message["id"])


async def test_a_second_crash_fails_the_job_and_the_queue_goes_on(bot, emulator):
    doomed = await queue(emulator, "a doomed ship", 1000, Member(emulator.snowflake(), "alice"))
    after = await queue(emulator, "a calm sea", 6, Member(emulator.snowflake(), "bob"))
    await mid_job(emulator, doomed)
    os.kill(bot.supervisor.pid, signal.SIGKILL)
    await mid_job(emulator, doomed, "second try")
    os.kill(bot.supervisor.pid, signal.SIGKILL)
    failed = await emulator.wait_title(doomed, "Failed", 60)
    why = {f["name"]: f["value"] for f in failed["embeds"][0]["fields"]}["Why"]
    assert "stopped unexpectedly twice" in why and "-9" in why
    assert (await bot.store.job(doomed)).state == "failed"
    await emulator.wait_title(after, "Done", 120)


async def test_jobs_survive_a_restart_and_old_results_still_react(config, emulator):
    alice, bob = Member(emulator.snowflake(), "alice"), Member(emulator.snowflake(), "bob")
    async with running_bot(config, emulator):
        finished = await queue(emulator, "an old result", 6, alice)
        result = await emulator.wait_title(finished, "Done", 60)
        interrupted = await queue(emulator, "an interrupted dream", 60, alice)
        waiting = await queue(emulator, "a waiting dream", 6, bob)
        painting = await emulator.wait_title(interrupted, "Painting", 60)
    async with running_bot(config, emulator) as bot:
        assert (await bot.store.job(interrupted)).state in ("queued", "running")
        done = await emulator.wait_title(interrupted, "Done", 120)
        assert done["id"] == painting["id"], "the restarted job keeps its message"
        await emulator.wait_title(waiting, "Done", 60)

        await emulator.react(int(result["id"]), "🔁", bob)
        await emulator.wait_for(lambda: len([m for m in emulator.channel_messages() if m["embeds"]
                                             and m["embeds"][0]["description"] == "an old result"]) == 2, 30)  # fmt: skip
        clicked = await emulator.click(int(result["id"]), f"dream:gif:{finished}", bob)
        await emulator.wait_for(lambda: emulator.reply_text(clicked), 10)
        assert any(name.endswith(".gif") for name, _ in emulator.interaction_replies(clicked)[0].files.values())


async def test_an_engine_failure_reaches_the_member_with_what_to_do(bot, emulator):
    options = [option("prompt", "a real picture"), option("model", "vqgan-imagenet-f16-1024"), option("size", "32x32")]
    interaction = await emulator.slash("dream", options)  # a model whose weights the owner has not fetched
    job = job_id_of(await emulator.wait_for(lambda: emulator.reply_text(interaction), 10))
    failed = await emulator.wait_title(job, "Failed", 60)
    fields = {f["name"]: f["value"] for f in failed["embeds"][0]["fields"]}
    assert "weights for vqgan-imagenet-f16-1024 are missing" in fields["Why"]
    assert "dreambot weights download" in fields["Try"]
    stored = await bot.store.job(job)
    assert stored.state == "failed" and stored.attempts == 1, "a failure the engine explains is not retried"
