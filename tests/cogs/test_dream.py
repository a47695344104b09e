"""/dream end to end: the real discord.py client, the emulator over loopback, the real engine process.

Every refusal is an ephemeral message and queues nothing; init images come only from Discord.
"""

from __future__ import annotations

import dataclasses
import io
import re
import struct
import time
import zlib

import av
import discord
import pytest
from PIL import Image

from bot.config import QueueConfig
from contract.kinds import PICTURE
from tests.support.discord_bot import EPHEMERAL, MODERATOR, dream, job_id_of, option, refused, running_bot, settings
from tests.support.discord_emulator import Member


async def test_dream_answers_at_once_then_shows_previews_and_the_final_png(bot, emulator):
    alice = Member(emulator.snowflake(), "alice")
    sent = time.monotonic()
    interaction, text = await dream(emulator, "a magic fairy house", option("seed", 7, 4), option("steps", 12, 4), member=alice)
    answered = emulator.interaction_replies(interaction)[0].at - sent
    assert answered < 3.0
    assert emulator.reply_flags(interaction) & EPHEMERAL
    assert "it starts next" in text
    job = job_id_of(text)
    emulator.expired_tokens.add(f"token-{interaction}")  # everything after the answer must use the bot's own token

    message = await emulator.wait_title(job, "Done")
    message_id = int(message["id"])
    edits = emulator.calls_to("PATCH", f"/messages/{message_id}")
    painting = [c.json for c in edits if c.json and "Painting" in c.json["embeds"][0]["title"]]
    assert painting, "no progress edit was made"
    progress = painting[-1]["embeds"][0]
    assert {f["name"] for f in progress["fields"]} >= {"Progress", "Step", "ETA"}
    assert re.search(r"\d+/12", next(f["value"] for f in progress["fields"] if f["name"] == "Step"))
    previews = [c for c in edits if "preview.jpg" in {name for name, _ in c.files.values()}]
    assert previews, "no preview image was uploaded"
    preview = Image.open(io.BytesIO(next(iter(previews[-1].files.values()))[1]))
    assert preview.format == "JPEG" and "parameters" not in preview.info

    final = message["embeds"][0]
    fields = {f["name"]: f["value"] for f in final["fields"]}
    assert fields["Seed"] == "7" and fields["Steps"] == "12" and fields["Size"] == "32x32" and fields["Model"] == "tiny-vqgan"
    assert final["description"] == "a magic fairy house" and "alice" in final["footer"]["text"]
    png = Image.open(io.BytesIO(emulator.files[message_id]["dream-7.png"]))
    assert png.size == (32, 32)
    assert png.info["parameters"].startswith("a magic fairy house\nSteps: 12, Seed: 7, Size: 32x32, Model: tiny-vqgan")
    assert final["image"]["url"] == "attachment://dream-7.png"
    buttons = [b["custom_id"] for row in message["components"] for b in row["components"]]
    assert buttons == [f"dream:{action}:{job}" for action in PICTURE.buttons]
    assert PICTURE.buttons[:6] == ("again", "vary_subtle", "vary_strong", "restyle", "upscale", "gif")

    assert not emulator.calls_to("PATCH", "/webhooks/") and not emulator.calls_to("POST", "/webhooks/")
    assert all(c.json.get("allowed_mentions") == {"parse": []} for c in emulator.calls_to("POST", "/channels/") if c.json)
    stored = await bot.store.job(job)
    assert stored.state == "done" and stored.message_id == message_id and stored.user_id == alice.id


async def test_dream_with_each_painter_through_the_engine_process(bot, emulator):
    """The model option reaches the engine process: BigGAN at its own size, pixels at the server's default."""
    _, text = await dream(emulator, "a canyon", option("model", "tiny-biggan"), option("seed", 3, 4))
    biggan = await emulator.wait_title(job_id_of(text), "Done")
    _, text = await dream(emulator, "a canyon", option("model", "pixels"), option("seed", 3, 4))
    pixels = await emulator.wait_title(job_id_of(text), "Done")
    for message, model, size in ((biggan, "tiny-biggan", (64, 64)), (pixels, "pixels", (32, 32))):
        png = Image.open(io.BytesIO(emulator.files[int(message["id"])]["dream-3.png"]))
        assert png.size == size
        assert f"Model: {model}" in png.info["parameters"]
    _, refusal = await dream(emulator, "a canyon", option("model", "tiny-biggan"), option("size", "32x32"))
    assert "paints 64x64 only, not 32x32" in refusal


async def test_rate_limits_and_deleted_messages_are_survived(bot, emulator):
    emulator.rate_limit_edits = 3
    _, text = await dream(emulator, "a storm", option("steps", 40, 4))
    job = job_id_of(text)
    painting = await emulator.wait_title(job, "Painting")
    emulator.delete(int(painting["id"]))
    done = await emulator.wait_title(job, "Done")
    assert done["id"] != painting["id"], "a deleted message is posted again"
    assert (await bot.store.job(job)).message_id == int(done["id"])
    assert (await bot.store.job_for_message(int(done["id"]))).id == job
    assert emulator.rate_limit_edits == 0, "the 429s were answered and waited out"


def png(width: int = 40, height: int = 24) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (200, 30, 90)).save(out, format="PNG")
    return out.getvalue()


def tiff() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (8, 8), (1, 2, 3)).save(out, format="TIFF")
    return out.getvalue()


def bomb_png(side: int = 30_000) -> bytes:
    """A tiny file whose header claims ``side``x``side`` pixels."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)
    rows = zlib.compress(b"\0" * (side * 3 + 1) * 4)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", rows) + chunk(b"IEND", b"")


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ([option("prompt", "   ")], "prompt is empty"),
        ([option("prompt", "x" * 1001)], "1001 characters"),
        ([option("prompt", "a castle"), option("steps", 5000, 4)], "between 1 and 1000"),
        ([option("prompt", "a castle"), option("steps", 0, 4)], "between 1 and 1000"),
        ([option("prompt", "a castle"), option("size", "big")], "WIDTHxHEIGHT"),
        ([option("prompt", "a castle"), option("size", "1024x1024")], "larger than this server allows (512x512)"),
        ([option("prompt", "a castle"), option("size", "33x32")], "multiples of 2"),
        ([option("prompt", "a castle"), option("model", "stable-diffusion")], "Unknown model 'stable-diffusion'"),
        ([option("prompt", "a castle"), option("model", "ViT-B-32/openai")], "Unknown model"),
        ([option("prompt", "a castle | | fog")], "empty part between '|'"),
        ([option("prompt", "a castle:-1")], "needs a positive weight"),
    ],
)
async def test_bad_dreams_are_refused(idle_bot, emulator, options, expected):
    assert expected in await refused(emulator, idle_bot, "dream", options)


async def test_server_rules_refuse_politely(bot, emulator):
    mod = Member(emulator.snowflake(), "mod", permissions=1 << 5)
    rules = {"banned_words": "gore, Blood", "channels": f"<#{emulator.channel_id}>", "cooldown": "1h", "jobs_per_user": "1"}
    for key, value in rules.items():
        assert "is now" in await settings(emulator, "set", mod, key=key, value=value)

    text = await refused(emulator, bot, "dream", [option("prompt", "a BLOOD moon")])
    assert "'blood'" in text
    text = await refused(emulator, bot, "dream", [option("prompt", "a moon")], channel_id=emulator.other_channel_id)
    assert "not painted in this channel" in text and f"<#{emulator.channel_id}>" in text

    alice = Member(emulator.snowflake(), "alice")
    first = await emulator.slash("dream", [option("prompt", "a moon"), option("steps", 1000, 4)], member=alice)
    queued = await emulator.wait_for(lambda: emulator.reply_text(first))
    await emulator.wait_title(queued.split("`")[1], "Painting")
    assert "already have 1 job" in await refused(emulator, bot, "dream", [option("prompt", "another moon")], member=alice)
    cancel = await emulator.slash("cancel", member=alice)
    await emulator.wait_for(lambda: emulator.reply_text(cancel))
    await emulator.wait_title(queued.split("`")[1], "Cancelled")
    assert "dream again in" in await refused(emulator, bot, "dream", [option("prompt", "another moon")], member=alice)


async def test_init_images_only_from_discord_and_safely_decoded(bot, emulator):
    def with_attachment(attachment: dict) -> dict:
        return {"options": [option("prompt", "a castle"), option("init_image", attachment["id"], 11)],
                "attachments": {attachment["id"]: attachment}}  # fmt: skip

    evil = emulator.attachment("evil.png", png(), url="https://evil.example.com/evil.png")
    args = with_attachment(evil)
    assert "uploaded to Discord" in await refused(emulator, bot, "dream", args["options"], attachments=args["attachments"])

    huge = emulator.attachment("huge.png", png())
    huge["size"] = 50 * 1024 * 1024
    args = with_attachment(huge)
    assert "50.0 MiB" in await refused(emulator, bot, "dream", args["options"], attachments=args["attachments"])

    liar = emulator.attachment("liar.png", png() + b"\0" * (9 * 1024 * 1024))  # says 1 KiB, streams 9 MiB
    liar["size"] = 1024
    args = with_attachment(liar)
    assert "larger than 8 MiB" in await refused(emulator, bot, "dream", args["options"], attachments=args["attachments"])

    bad = (
        ("bomb.png", bomb_png(), "too many pixels"),
        ("big.png", bomb_png(8000), "8000x8000"),
        ("notes.png", b"text", "could not be read"),
        ("scan.png", tiff(), "could not be read"),  # a real picture, but no decoder beyond PNG, JPEG, WebP, GIF
    )
    for name, data, expected in bad:
        args = with_attachment(emulator.attachment(name, data))
        assert expected in await refused(emulator, bot, "dream", args["options"], attachments=args["attachments"])

    args = with_attachment(emulator.attachment("start.png", png()))
    interaction = await emulator.slash("dream", args["options"], attachments=args["attachments"])
    text = await emulator.wait_for(lambda: emulator.reply_text(interaction))
    assert "Queued" in text
    job = await bot.store.job(text.split("`")[1])
    stored = Image.open(job.request.init_image)
    assert stored.format == "PNG" and stored.size == (40, 24) and stored.getpixel((0, 0)) == (200, 30, 90)
    await emulator.wait_title(job.id, "Done")


# hostile members


async def test_display_names_are_shown_as_text(bot, emulator):
    alice, mallory = Member(emulator.snowflake(), "alice"), Member(emulator.snowflake(), "**boss** @everyone")
    _, text = await dream(emulator, "a guarded lighthouse", option("steps", 1000, 4), member=alice)
    painting = await emulator.wait_title(job_id_of(text), "Painting")
    await emulator.react(int(painting["id"]), "❌", mallory)
    notice = await emulator.wait_for(lambda: [m for m in emulator.channel_messages() if "Only the member" in m["content"]])
    content = notice[0]["content"]
    assert content.startswith(r"\*\*boss\*\*") and "@everyone" not in content


async def test_a_full_queue_says_so(config, emulator, forked_engine):
    alice, bob = Member(emulator.snowflake(), "alice"), Member(emulator.snowflake(), "bob")
    async with running_bot(
        dataclasses.replace(config, queue=QueueConfig(max_per_server=2)), emulator, forked_engine(config)
    ) as bot:
        jobs = []
        for prompt in ("a first moon", "a second moon", "a third moon"):
            _, text = await dream(emulator, prompt, option("steps", 1000, 4), member=alice)
            jobs.append(job_id_of(text))
        await emulator.wait_for(lambda: all(emulator.job_message(job) for job in jobs))  # their messages are posted
        assert "queue of this server is full (2 jobs wait)" in await refused(
            emulator, bot, "dream", [option("prompt", "x")], member=bob
        )


async def test_a_result_over_the_upload_limit_is_posted_as_a_jpeg(bot, emulator, monkeypatch):
    monkeypatch.setattr(discord.Guild, "filesize_limit", property(lambda guild: 1500))  # smaller than any tiny PNG
    _, text = await dream(emulator, "a heavy lighthouse")
    job = job_id_of(text)
    message = await emulator.wait_title(job, "Done")
    stored = await bot.store.job(job)
    name = f"dream-{stored.request.seed}.jpg"
    data = emulator.files[int(message["id"])][name]
    assert len(data) <= 1500 and Image.open(io.BytesIO(data)).format == "JPEG"
    fields = {f["name"]: f["value"] for f in message["embeds"][0]["fields"]}
    assert "over this server's 0.00143 MiB upload limit" in fields["Note"]
    assert (await bot.files.read(bot.files.result(job))).startswith(b"\x89PNG"), "the full PNG is kept"


async def test_zoom_and_story_post_their_film_beside_the_last_frame(bot, emulator):
    alice = Member(emulator.snowflake(), "alice")
    zoom = [option("prompt", "a tunnel"), option("frames", 4, 4), option("steps", 4, 4), option("steps_per_frame", 2, 4),
            option("zoom", 1.2, 10), option("seed", 5, 4)]  # fmt: skip
    interaction = await emulator.slash("zoom", zoom, member=alice)
    zoomed = await emulator.wait_title(job_id_of(await emulator.wait_for(lambda: emulator.reply_text(interaction))), "Done")
    story = [
        option("lines", "a seed || an oak"),
        option("steps_per_line", 3, 4),
        option("captions", True, 5),
        option("seed", 6, 4),
    ]
    interaction = await emulator.slash("story", story, member=alice)
    told = await emulator.wait_title(job_id_of(await emulator.wait_for(lambda: emulator.reply_text(interaction))), "Done")

    for message, seed, steps, film, recorded in (
        (zoomed, 5, "10", "zoom, 4 frames of ×1.2", "a tunnel\nSteps: 4, Seed: 5"),
        (told, 6, "6", "story, 2 scenes", "a seed || an oak\nSteps: 6, Seed: 6"),
    ):
        fields = {f["name"]: f["value"] for f in message["embeds"][0]["fields"]}
        assert (fields["Steps"], fields["Film"]) == (steps, film)
        files = emulator.files[int(message["id"])]
        assert {f"dream-{seed}.png", f"dream-{seed}.mp4"} <= set(files)
        assert Image.open(io.BytesIO(files[f"dream-{seed}.png"])).info["parameters"].startswith(recorded)
        with av.open(io.BytesIO(files[f"dream-{seed}.mp4"])) as opened:
            assert opened.streams.video[0].codec_context.name == "h264" and opened.streams.video[0].frames > 10
    assert (
        "Zoom frames: 4, Steps per frame: 2, Zoom: 1.2"
        in Image.open(io.BytesIO(emulator.files[int(zoomed["id"])]["dream-5.png"])).info["parameters"]
    )


async def test_films_keep_to_the_servers_frame_and_scene_limits(idle_bot, emulator):
    mod = Member(emulator.snowflake(), "mod", permissions=MODERATOR)
    assert "is now" in await settings(emulator, "set", mod, key="max_frames", value="3")
    assert "is now" in await settings(emulator, "set", mod, key="max_scenes", value="2")
    text = await refused(emulator, idle_bot, "zoom", [option("prompt", "a tunnel"), option("frames", 4, 4)])
    assert "A zoom may have 1 to 3 frames on this server, not 4." in text
    text = await refused(emulator, idle_bot, "story", [option("lines", "a || b || c")])
    assert "at most 2 scenes, not 3" in text
    text = await refused(emulator, idle_bot, "story", [option("lines", "just one scene")])
    assert "at least two scenes" in text
    shifted = [option("prompt", "a tunnel"), option("frames", 2, 4), option("shift", "left")]
    text = await refused(emulator, idle_bot, "zoom", shifted)
    assert "Shift is two numbers" in text
