"""/describe through Discord: the member's picture is queued like any job, described by the engine's perceptor (the
phrases and scores shown are the ones this process computes from the same weights), and each Dream button paints one
of the described prompts as a new job that links the description."""

from __future__ import annotations

import io
import json

from PIL import Image

from contract.describe import PROMPTS, VOCABULARIES
from tests.support.discord_bot import job_id_of, option
from tests.support.discord_emulator import MANAGE_GUILD, Member


def noise_png(size: tuple[int, int] = (48, 40)) -> bytes:
    buffer = io.BytesIO()
    Image.effect_noise(size, 60).convert("RGB").save(buffer, "PNG")
    return buffer.getvalue()


async def describe(emulator, data: bytes, member: Member) -> str:
    picture = emulator.attachment("mine.png", data)
    asked = await emulator.slash(
        "describe", [option("image", picture["id"], 11)], member=member, attachments={picture["id"]: picture}
    )
    return await emulator.wait_for(lambda: emulator.reply_text(asked))


def fields(message: dict) -> dict[str, str]:
    return {field["name"]: field["value"] for field in message["embeds"][0]["fields"]}


async def test_describe_shows_the_perceptors_ranking_and_each_dream_button_paints_its_prompt(bot, emulator, engine):
    alice, bob = Member(emulator.snowflake(), "alice"), Member(emulator.snowflake(), "bob")
    data = noise_png()
    text = await describe(emulator, data, alice)
    assert "Queued as job" in text and "seed" not in text
    job = await bot.store.job(job_id_of(text))
    assert (job.request.kind.name, job.request.size, job.request.perceptor) == ("describe", "48x40", "tiny-clip")
    shown = await emulator.wait_title(job.id, "Described")

    expected = engine.describer("tiny-clip").describe(Image.open(io.BytesIO(data)).convert("RGB"), 5)
    listed = fields(shown)
    for name in VOCABULARIES:
        best = expected.ranked[name][0]
        assert listed[name.capitalize()].startswith(f"{best.text} {best.score:.3f}"), "the engine's own ranking"
    lines = shown["embeds"][0]["description"].splitlines()
    assert lines == [f"**{n}.** {prompt}" for n, prompt in enumerate(expected.prompts, 1)] and len(lines) == PROMPTS
    kept = json.loads(bot.files.description(job.id).read_bytes())
    assert kept["prompts"] == expected.prompts

    ids = [b["custom_id"] for row in shown["components"] for b in row["components"]]
    assert ids == [f"dream:dream_prompt:{job.id}:{n}" for n in range(1, PROMPTS + 1)]
    clicked = await emulator.click(int(shown["id"]), f"dream:dream_prompt:{job.id}:2", bob)
    answer = await emulator.wait_for(lambda: emulator.reply_text(clicked))
    assert f"prompt 2 of job `{job.id}`'s description" in answer
    painted = await bot.store.job(job_id_of(answer))
    assert (painted.request.prompt, painted.parent, painted.user_id) == (expected.prompts[1], job.id, bob.id)
    assert painted.request.kind.name == "picture"
    done = await emulator.wait_title(painted.id, "Done")
    assert f"job {job.id}" in fields(done)["From"]


async def test_a_dream_button_says_why_when_its_description_is_gone_or_the_job_is_no_description(bot, emulator):
    alice = Member(emulator.snowflake(), "alice")
    job = await bot.store.job(job_id_of(await describe(emulator, noise_png((24, 24)), alice)))
    shown = await emulator.wait_title(job.id, "Described")
    bot.files.description(job.id).unlink()
    clicked = await emulator.click(int(shown["id"]), f"dream:dream_prompt:{job.id}:1", alice)
    answer = await emulator.wait_for(lambda: emulator.reply_text(clicked))
    assert answer == f"The description of job {job.id} was cleaned up; describe the picture again."
    assert len(await bot.store.queued()) == 0


async def test_describe_is_refused_like_any_job_when_the_member_is_blocked(bot, emulator):
    alice, mod = Member(emulator.snowflake(), "alice"), Member(emulator.snowflake(), "mod", permissions=MANAGE_GUILD)
    blocked = await emulator.slash(
        "block", [option("member", str(alice.id), 6), option("reason", "spam")], member=mod, users=(alice,)
    )
    await emulator.wait_for(lambda: emulator.reply_text(blocked))
    text = await describe(emulator, noise_png(), alice)
    assert text.startswith("A moderator blocked you") and await bot.store.queued() == []
