"""Every refusal is an ephemeral message and queues nothing; init images come only from Discord."""

from __future__ import annotations

import io
import struct
import zlib

import pytest
from PIL import Image

from tests.bot.conftest import option, settings
from tests.support.discord_emulator import Member

EPHEMERAL = 64


def png(width: int = 40, height: int = 24) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (200, 30, 90)).save(out, format="PNG")
    return out.getvalue()


def bomb_png(side: int = 30_000) -> bytes:
    """A tiny file whose header claims ``side``x``side`` pixels."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)
    rows = zlib.compress(b"\0" * (side * 3 + 1) * 4)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", rows) + chunk(b"IEND", b"")


async def refused(emulator, bot, name: str, options: list[dict], member: Member | None = None, **kwargs) -> str:
    before = len(await bot.store.queued()) + len(await bot.store.running())
    messages = len(emulator.messages)
    interaction = await emulator.slash(name, options, member=member, **kwargs)
    text = await emulator.wait_for(lambda: emulator.reply_text(interaction), 10)
    assert emulator.reply_flags(interaction) & EPHEMERAL, text
    assert len(await bot.store.queued()) + len(await bot.store.running()) == before, f"something was queued: {text}"
    posted = list(emulator.messages.values())[messages:]
    assert posted and all(m["flags"] & EPHEMERAL for m in posted), "only ephemeral answers may be posted"
    return text


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
async def test_bad_dreams_are_refused(bot, emulator, options, expected):
    assert expected in await refused(emulator, bot, "dream", options)


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
    queued = await emulator.wait_for(lambda: emulator.reply_text(first), 10)
    await emulator.wait_title(queued.split("`")[1], "Painting", 60)
    assert "already have 1 job" in await refused(emulator, bot, "dream", [option("prompt", "another moon")], member=alice)
    cancel = await emulator.slash("cancel", member=alice)
    await emulator.wait_for(lambda: emulator.reply_text(cancel), 10)
    await emulator.wait_title(queued.split("`")[1], "Cancelled", 60)
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

    bad = (
        ("bomb.png", bomb_png(), "too many pixels"),
        ("big.png", bomb_png(8000), "8000x8000"),
        ("notes.png", b"text", "could not be read"),
    )
    for name, data, expected in bad:
        args = with_attachment(emulator.attachment(name, data))
        assert expected in await refused(emulator, bot, "dream", args["options"], attachments=args["attachments"])

    args = with_attachment(emulator.attachment("start.png", png()))
    interaction = await emulator.slash("dream", args["options"], attachments=args["attachments"])
    text = await emulator.wait_for(lambda: emulator.reply_text(interaction), 10)
    assert "Queued" in text
    job = await bot.store.job(text.split("`")[1])
    stored = Image.open(job.request.init_image)
    assert stored.format == "PNG" and stored.size == (40, 24) and stored.getpixel((0, 0)) == (200, 30, 90)
    await emulator.wait_title(job.id, "Done")
