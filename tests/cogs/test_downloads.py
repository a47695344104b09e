"""A new owner's first start: the default models' weights are missing, and the engine fetches them itself
(``[engine] auto_download``) while /dream says how far the fetch is; then /dream paints."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

import pytest
from aiohttp import web

from contract.models import VQGAN_CHECKPOINT
from engine.networks.tiny import TINY_VQGAN_YAML, save_vqgan
from engine.weights import MIRROR_VARIABLE
from tests.support.discord_bot import dream, job_id_of, running_bot
from tests.support.discord_emulator import Member
from tests.support.waiting import PATIENCE

MODEL = "vqgan-imagenet-f16-1024"  # served from a local mirror: a small VQGAN in the official layout
SECONDS = 4.0  # how long the mirror takes to send the checkpoint


async def slow_mirror(folder: Path) -> tuple[web.AppRunner, str]:
    """Serves ``folder``'s files as ``/{MODEL}/{name}``, the checkpoint slowly, with its length."""

    async def serve(request: web.Request) -> web.StreamResponse:
        data = (folder / request.match_info["name"]).read_bytes()
        response = web.StreamResponse(headers={"Content-Length": str(len(data))})
        await response.prepare(request)
        chunks = [data[i : i + 16384] for i in range(0, len(data), 16384)]
        for chunk in chunks:
            await response.write(chunk)
            await asyncio.sleep(SECONDS / len(chunks) if request.match_info["name"] == VQGAN_CHECKPOINT else 0)
        await response.write_eof()
        return response

    app = web.Application()
    app.router.add_get(f"/{MODEL}/{{name}}", serve)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    return runner, f"http://127.0.0.1:{port}"


@pytest.fixture
async def mirror(tmp_path, monkeypatch):
    save_vqgan(tmp_path / "served", TINY_VQGAN_YAML)
    runner, url = await slow_mirror(tmp_path / "served")
    monkeypatch.setenv(MIRROR_VARIABLE, url)
    yield
    await runner.cleanup()


async def test_missing_default_weights_are_fetched_at_start_while_dream_says_how_far(
    config, emulator, tmp_path, mirror, forked_engine
):
    weights = tmp_path / "fresh-weights"
    fresh = dataclasses.replace(
        config,
        engine=dataclasses.replace(config.engine, weights_dir=str(weights)),
        defaults=dataclasses.replace(config.defaults, model=MODEL),
    )
    alice = Member(emulator.snowflake(), "alice")
    async with running_bot(fresh, emulator, forked_engine(fresh)) as bot:

        async def fetching():
            while bot.supervisor.downloading is None or bot.supervisor.downloading.percent is None:
                await asyncio.sleep(0.05)

        await asyncio.wait_for(fetching(), PATIENCE)
        _, text = await dream(emulator, "a fairy house", member=alice)
        assert text.startswith("The models are still downloading (") and "%); try again in a few minutes." in text
        assert await bot.store.queued() == [], "nothing was queued"

        async def fetched():
            while bot.supervisor.downloading is not None or not (weights / MODEL / VQGAN_CHECKPOINT).is_file():
                await asyncio.sleep(0.05)

        await asyncio.wait_for(fetched(), PATIENCE)
        assert not list((weights / MODEL).glob("*.part")), "the partial file became the real one"
        _, text = await dream(emulator, "a fairy house", member=alice)
        await emulator.wait_title(job_id_of(text), "Done")
