"""Driving the bot through the Discord emulator: start it, send slash commands as members, read answers."""

from __future__ import annotations

import asyncio
import contextlib
import re
import sys
from collections.abc import AsyncIterator

from bot.client import DreamBot
from bot.config import Config
from tests.support.discord_emulator import DiscordEmulator, Member
from tests.support.waiting import PATIENCE

EPHEMERAL = 64  # the message flag of an answer only its member sees
MODERATOR = 1 << 5  # the Manage Server permission: a moderator of the server
READY_AFTER = 0.1  # seconds the bot waits after the emulator's guild before it is ready (Discord's default: 2)

# The engine of a bot whose test paints nothing: ready at once, warm at once, and every job it is given fails
# in words (a real engine spends 4-5 s of CPU importing torch, only to be stopped unused).
IDLE_ENGINE = [
    sys.executable,
    "-c",
    "import json, os, sys\n"
    "events = os.fdopen(int(os.environ['DREAMBOT_EVENTS_FD']), 'w')\n"
    "def emit(event): events.write(json.dumps(event) + '\\n'); events.flush()\n"
    "emit({'kind': 'ready', 'job_id': '', 'device': 'stand-in'})\n"
    "for line in sys.stdin:\n"
    "    command = json.loads(line)\n"
    "    if command['op'] == 'warm': emit({'kind': 'warmed', 'job_id': ''})\n"
    "    jobs = command['jobs'] if command['op'] == 'render_batch' else [command] if command['op'] == 'render' else []\n"
    "    for job in jobs:\n"
    "        emit({'kind': 'failed', 'job_id': job['job_id'], 'reason': 'this test paints nothing'})\n",
]


@contextlib.asynccontextmanager
async def running_bot(config: Config, emulator: DiscordEmulator, engine_argv: list[str] | None = None) -> AsyncIterator[DreamBot]:
    """Start the bot, wait until it is logged in and has seen the guild; close it afterwards."""
    emulator.ready.clear()
    bot = DreamBot(config, engine_argv)
    # discord.py waits guild_ready_timeout (2 s) after the last GUILD_CREATE before it is ready; the emulator sends
    # its one guild at once, so waiting 2 s idle at every start would only lengthen the suite.
    bot._connection.guild_ready_timeout = READY_AFTER
    task = asyncio.create_task(bot.start("test-token"))
    try:
        await asyncio.wait_for(bot.wait_until_ready(), PATIENCE)
        yield bot
    finally:
        await bot.close()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, PATIENCE)


def option(name: str, value, kind: int = 3) -> dict:
    """One slash-command option as Discord sends it (3 string, 4 integer, 11 attachment)."""
    return {"name": name, "type": kind, "value": value}


def subcommand(name: str, **values: str) -> list[dict]:
    """The options of ``/settings NAME key:... value:...`` as Discord sends them."""
    return [{"name": name, "type": 1, "options": [option(key, value) for key, value in values.items()]}]


async def settings(emulator: DiscordEmulator, name: str, member: Member, **values: str) -> str:
    """Run ``/settings NAME`` as ``member``; returns the (ephemeral) answer."""
    interaction = await emulator.slash("settings", subcommand(name, **values), member=member)
    return await emulator.wait_for(lambda: emulator.reply_text(interaction))


def job_id_of(text: str) -> str:
    """The job id in the bot's answer to /dream."""
    return re.search(r"job `([0-9a-f]+)`", text)[1]


async def dream(emulator: DiscordEmulator, prompt: str, *options: dict, member: Member | None = None) -> tuple[int, str]:
    """Send /dream and wait for the answer; returns the interaction id and the answer's text."""
    interaction = await emulator.slash("dream", [option("prompt", prompt), *options], member=member)
    return interaction, await emulator.wait_for(lambda: emulator.reply_text(interaction))


async def refused(
    emulator: DiscordEmulator, bot: DreamBot, name: str, options: list[dict], member: Member | None = None, **kwargs
) -> str:
    """Send a command that must be refused: its answer is ephemeral and nothing is queued or posted in the open."""
    before = len(await bot.store.queued()) + len(await bot.store.running())
    messages = len(emulator.messages)
    interaction = await emulator.slash(name, options, member=member, **kwargs)
    text = await emulator.wait_for(lambda: emulator.reply_text(interaction))
    assert emulator.reply_flags(interaction) & EPHEMERAL, text
    assert len(await bot.store.queued()) + len(await bot.store.running()) == before, f"something was queued: {text}"
    posted = list(emulator.messages.values())[messages:]
    assert posted and all(m["flags"] & EPHEMERAL for m in posted), "only ephemeral answers may be posted"
    return text
