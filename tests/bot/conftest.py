"""A running bot against the Discord emulator, with the real engine process and tiny models."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.client import DreamBot
from bot.config import Config, DefaultsConfig, DiscordConfig, EngineConfig, StorageConfig
from tests.support.discord_emulator import DiscordEmulator, Member


@pytest.fixture
async def emulator() -> AsyncIterator[DiscordEmulator]:
    emulator = DiscordEmulator()
    await emulator.start()
    yield emulator
    await emulator.stop()


@pytest.fixture
def config(emulator: DiscordEmulator, weights_dir: Path, tmp_path: Path) -> Config:
    return Config(
        discord=DiscordConfig(api_base=emulator.api_base, preview_interval=0.2),
        engine=EngineConfig(device="cpu", weights_dir=str(weights_dir), preview_every=2),
        defaults=DefaultsConfig(model="tiny-vqgan", perceptor="tiny-clip", steps=6, size="32x32"),
        storage=StorageConfig(path=str(tmp_path / "dreambot.sqlite3"), files=str(tmp_path / "files")),
    )


@contextlib.asynccontextmanager
async def running_bot(config: Config, emulator: DiscordEmulator) -> AsyncIterator[DreamBot]:
    """Start the bot, wait until it is logged in and has seen the guild; close it afterwards."""
    emulator.ready.clear()
    bot = DreamBot(config)
    task = asyncio.create_task(bot.start("test-token"))
    try:
        await asyncio.wait_for(bot.wait_until_ready(), 30)
        yield bot
    finally:
        await bot.close()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, 30)


@pytest.fixture
async def bot(config: Config, emulator: DiscordEmulator) -> AsyncIterator[DreamBot]:
    async with running_bot(config, emulator) as bot:
        yield bot


def option(name: str, value, kind: int = 3) -> dict:
    """One slash-command option as Discord sends it (3 string, 4 integer, 11 attachment)."""
    return {"name": name, "type": kind, "value": value}


def subcommand(name: str, **values: str) -> list[dict]:
    """The options of ``/settings NAME key:... value:...`` as Discord sends them."""
    return [{"name": name, "type": 1, "options": [option(key, value) for key, value in values.items()]}]


async def settings(emulator: DiscordEmulator, name: str, member: Member, **values: str) -> str:
    """Run ``/settings NAME`` as ``member``; returns the (ephemeral) answer."""
    interaction = await emulator.slash("settings", subcommand(name, **values), member=member)
    return await emulator.wait_for(lambda: emulator.reply_text(interaction), 10)
