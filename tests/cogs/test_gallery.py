"""The gallery and the operator's view through the real bot: /gallery's signed link opens the server's pictures
(search, filters, "more like this", a picture's page with the /dream that repaints it), and only those its member
may see; /metrics counts what happened; /healthz says whether the bot serves."""

from __future__ import annotations

import asyncio
import dataclasses
import re
import time

import aiohttp
import pytest

from bot.config import WebConfig
from bot.queue.jobs import JobState
from bot.web.links import Pass, sign
from tests.support.discord_bot import dream, job_id_of, option, settings
from tests.support.discord_emulator import MANAGE_GUILD, Member


@pytest.fixture
def config(config):
    return dataclasses.replace(config, web=WebConfig(listen="127.0.0.1:0", metrics=True))


async def gallery_link(emulator, member: Member) -> str:
    asked = await emulator.slash("gallery", [], member=member)
    text = await emulator.wait_for(lambda: emulator.reply_text(asked))
    found = re.search(r"(http://\S+/g/\S+)", text)
    assert found, text
    return found[1]


def cards(html: str) -> list[str]:
    """The job of each card of a grid, in order."""
    return re.findall(r'<div class=card><a href="/gallery/picture/([0-9a-f]+)"', html)


async def painted(emulator, prompt: str, member: Member, *options: dict, channel_id: int | None = None) -> str:
    asked = await emulator.slash("dream", [option("prompt", prompt), *options], member=member, channel_id=channel_id)
    job = job_id_of(await emulator.wait_for(lambda: emulator.reply_text(asked)))
    await emulator.wait_title(job, "Done")
    return job


async def test_a_members_link_shows_what_they_may_see_finds_by_words_and_likeness_and_repaints(bot, emulator, tmp_path):
    alice = Member(emulator.snowflake(), "alice")
    mod = Member(emulator.snowflake(), "mod", roles=(emulator.mod_role_id,), permissions=MANAGE_GUILD)
    refused = await emulator.slash("gallery", [], member=alice)
    assert "gallery is off" in await emulator.wait_for(lambda: emulator.reply_text(refused))
    assert "is now members" in await settings(emulator, "set", mod, key="gallery", value="members")

    castle = await painted(emulator, "a red castle", alice, option("seed", 7, 4))
    # painted again alike: the random tiny CLIP finds every picture close (cosine 0.9993 to 0.9997 measured, a repaint
    # of 5 steps instead of 6 included: 0.9972), so the near-duplicate it must rank first is the same picture again (1.0)
    twin = await painted(emulator, "a red castle", alice, option("seed", 7, 4))
    ocean = await painted(emulator, "a blue ocean", alice, option("seed", 8, 4))
    hidden = await painted(emulator, "a secret plan", mod, channel_id=emulator.private_channel_id)
    gone = await painted(emulator, "a lost map", alice)
    message = emulator.job_message(gone)
    await emulator.react(int(message["id"]), "🗑️", alice)
    await emulator.wait_for(lambda: emulator.messages[int(message["id"])].get("deleted"))
    elsewhere = dataclasses.replace(await bot.store.job(ocean), id="e1" * 8, guild_id=emulator.snowflake(), message_id=None)
    await bot.store.add_job(dataclasses.replace(elsewhere, state=JobState.QUEUED))
    await bot.store.claim(elsewhere.id)
    await bot.store.finish(elsewhere.id, JobState.DONE, seconds=1.0)
    bot.files.result(elsewhere.id).parent.mkdir(parents=True)
    bot.files.result(elsewhere.id).write_bytes(bot.files.result(ocean).read_bytes())

    link = await gallery_link(emulator, alice)
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as browser:  # unsafe: an IP address
        async with browser.get(link) as opened:
            assert opened.status == 200 and str(opened.url).endswith("/gallery")
            grid = await opened.text()
        shown = cards(grid)
        assert sorted(shown) == sorted([castle, twin, ocean]), "not the mods' channel, the deleted one, another server's"
        assert shown[0] == ocean, "newest first"
        for leak in (str(tmp_path), "test-token", link.rsplit("/", 1)[1]):
            assert leak not in grid

        async with browser.get(link.split("/g/")[0] + "/gallery", params={"q": "ocean"}) as found:
            assert cards(await found.text()) == [ocean]
        async with browser.get(link.split("/g/")[0] + "/gallery", params={"like": castle}) as alike:
            assert cards(await alike.text())[0] == twin, "the near-duplicate first"
        async with browser.get(link.split("/g/")[0] + f"/gallery/picture/{castle}") as page:
            html = await page.text()
        assert "<code id=command>/dream prompt:a red castle seed:7 steps:6 size:32x32 model:tiny-vqgan</code>" in html
        for job in (hidden, gone, elsewhere.id):
            async with browser.get(link.split("/g/")[0] + f"/gallery/picture/{job}") as missing:
                assert missing.status == 404, job
        async with browser.get(link.split("/g/")[0] + f"/gallery/thumb/{castle}.webp") as thumb:
            assert thumb.status == 200 and (await thumb.read())[8:12] == b"WEBP"

    base = link.split("/g/")[0]
    secret = await bot.store.web_secret()
    expired = sign(secret, Pass(emulator.guild_id, alice.id, int(time.time()) - 1))
    token = link.rsplit("/", 1)[1]
    altered = token.replace(f".{alice.id}.", f".{mod.id}.")
    async with aiohttp.ClientSession() as stranger:
        for bad in (expired, altered, "1.2.3.abc"):
            async with stranger.get(f"{base}/g/{bad}", allow_redirects=False) as refused_page:
                assert refused_page.status == 403
        async with stranger.get(f"{base}/gallery") as no_cookie:
            assert no_cookie.status == 403
        async with stranger.get(f"{base}/gallery/image/{castle}.png") as no_cookie:
            assert no_cookie.status == 403


async def test_metrics_count_what_happened_and_healthz_says_the_bot_serves(bot, emulator):
    alice = Member(emulator.snowflake(), "alice")
    emulator.rate_limit_edits = 2  # Discord answers the next two edits with 429
    await painted(emulator, "a tower", alice)
    await painted(emulator, "a bridge", alice)
    _, text = await dream(emulator, "a castle", option("steps", 10**6, 4), member=alice)
    assert "Steps must be between" in text
    _, text = await dream(emulator, "a slow castle", option("steps", 400, 4), member=alice)
    slow = job_id_of(text)
    shown = await emulator.wait_title(slow, "Painting")
    emulator.delete(int(shown["id"]))  # a member deletes its message: the next edit meets a 404, and it is posted again
    await emulator.wait_for(lambda: (again := emulator.job_message(slow)) is not None and again["id"] != shown["id"])
    cancelled = await emulator.slash("cancel", [option("job", slow)], member=alice)
    await emulator.wait_for(lambda: emulator.reply_text(cancelled))
    await emulator.wait_title(slow, "Cancelled")
    base = f"http://{bot.web.address}"
    async with aiohttp.ClientSession() as operator:
        async with operator.get(f"{base}/healthz") as health:
            assert (health.status, await health.text()) == (200, "ok\n")
        async with operator.get(f"{base}/metrics") as scraped:
            figures = await scraped.text()
    assert 'dreambot_jobs_total{kind="picture",outcome="done"} 2.0' in figures
    assert 'dreambot_jobs_total{kind="picture",outcome="cancelled"} 1.0' in figures
    assert "dreambot_discord_rate_limits_total 2.0" in figures  # the emulator's 429s carry no Via: discord.py raises
    assert 'dreambot_discord_api_errors_total{status="429"} 2.0' in figures
    assert 'dreambot_discord_api_errors_total{status="404"} 1.0' in figures
    assert "dreambot_refused_total 1.0" in figures
    assert "dreambot_wait_seconds_count 3.0" in figures and 'dreambot_run_seconds_count{kind="picture"} 3.0' in figures
    assert re.search(r'dreambot_steps_per_second\{executor="local"\} [0-9.]+', figures)
    assert re.search(r"dreambot_database_bytes [1-9][0-9.e+]*", figures)
    bot._scheduler_task.cancel()  # the loop stops: the bot no longer serves
    await asyncio.sleep(0)
    async with aiohttp.ClientSession() as operator, operator.get(f"{base}/healthz") as health:
        assert (health.status, await health.text()) == (503, "the scheduler's loop is not running\n")


async def test_a_public_link_shows_what_everyone_sees_and_the_setting_closes_it_again(bot, emulator):
    alice = Member(emulator.snowflake(), "alice")
    mod = Member(emulator.snowflake(), "mod", roles=(emulator.mod_role_id,), permissions=MANAGE_GUILD)
    assert "is now public" in await settings(emulator, "set", mod, key="gallery", value="public")
    open_one = await painted(emulator, "a town square", alice)
    await painted(emulator, "a secret plan", mod, channel_id=emulator.private_channel_id)
    link = await gallery_link(emulator, mod)
    assert link.rsplit("/", 1)[1].split(".")[1] == "0", "the server's link, not the moderator's own"
    base = link.split("/g/")[0]
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as anyone:
        async with anyone.get(link) as opened:
            assert cards(await opened.text()) == [open_one], "what @everyone can see, even when a moderator asked"
        assert "is now members" in await settings(emulator, "set", mod, key="gallery", value="members")
        async with anyone.get(f"{base}/gallery") as closed:
            assert closed.status == 403, "a public link does not open a members' gallery"
        member_link = await gallery_link(emulator, alice)
        async with anyone.get(member_link) as opened:
            assert cards(await opened.text()) == [open_one]
        assert "is now off" in await settings(emulator, "set", mod, key="gallery", value="off")
        async with anyone.get(f"{base}/gallery") as closed:
            assert closed.status == 403, "off closes every link"
