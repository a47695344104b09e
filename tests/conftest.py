"""Shared fixtures: one weights cache per test session (the tiny models are made once), an engine
on the CPU, and a bot running against the Discord emulator with an engine process forked from a zygote that
imported torch once (``real_bot``: the engine started as the bot starts it, for tests that kill or freeze it)."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest

from bot.config import Config, DefaultsConfig, DiscordConfig, EngineConfig, ModerationConfig, StorageConfig
from tests.support import forked_engine as forked
from tests.support.discord_bot import IDLE_ENGINE, running_bot
from tests.support.discord_emulator import DiscordEmulator

EngineArgv = Callable[[Config], list[str]]

# In parallel streams (pytest -n, as the README runs the suite), torch gets one thread in each stream and in every
# process a test starts: two streams of two OpenMP threads each on two cores spin against each other (a run like
# that took 3.6x each test's quiet time); one thread each keeps both cores busy. Set before torch is imported.
if os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ.setdefault("OMP_NUM_THREADS", "1")


@pytest.fixture(scope="session")
def weights_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("weights")


@pytest.fixture(scope="session")
def engine(weights_dir: Path):
    from engine.pipeline import Engine
    from engine.weights import WeightStore

    return Engine(WeightStore(weights_dir), "cpu")


@pytest.fixture(scope="session")
def zygote(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The socket of the session's engine zygote (tests/support/forked_engine.py), started on first use."""
    path = tmp_path_factory.mktemp("zygote") / "engine.sock"
    process = forked.start_zygote(path)
    yield path
    process.kill()
    process.wait()


@pytest.fixture(scope="session")
def forked_engine(zygote: Path) -> EngineArgv:
    """The engine command for a config, whose engine is forked from the session's zygote."""
    return lambda config: forked.command(zygote, config.engine)


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
        defaults=DefaultsConfig(
            model="tiny-vqgan",
            perceptor="tiny-clip",
            steps=6,
            size="32x32",
            upscaler="tiny-esrgan",
            dreamer="tiny-inception",
        ),
        storage=StorageConfig(path=str(tmp_path / "dreambot.sqlite3"), files=str(tmp_path / "files")),
        moderation=ModerationConfig(picture_check="off"),  # tests/cogs/test_moderation.py puts in its own detector
    )


@pytest.fixture
async def bot(config: Config, emulator: DiscordEmulator, forked_engine: EngineArgv):
    async with running_bot(config, emulator, forked_engine(config)) as bot:
        yield bot


@pytest.fixture
async def real_bot(config: Config, emulator: DiscordEmulator):
    """A bot that starts its engine as ``dreambot run`` does: for tests that kill or freeze the engine process."""
    async with running_bot(config, emulator) as bot:
        yield bot


@pytest.fixture
async def idle_bot(config: Config, emulator: DiscordEmulator):
    """A bot for a test that paints nothing (refusals, settings): its engine is a stand-in that is ready at once."""
    async with running_bot(config, emulator, IDLE_ENGINE) as bot:
        yield bot
