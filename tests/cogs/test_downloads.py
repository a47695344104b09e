"""A new owner's first start: the default models' weights are missing, and the engine fetches them itself
(``[engine] auto_download``), the upscaler's and the dreamer's after the generator's and beside the first jobs,
while /dream and the buttons that need a model under way say how far its fetch is; then they paint."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

import pytest
from aiohttp import web

from contract.models import ESRGAN_WEIGHTS, GOOGLENET_WEIGHTS, VQGAN_CHECKPOINT
from engine.networks.tiny import TINY_VQGAN_YAML, save_vqgan
from engine.weights import MIRROR_VARIABLE
from tests.cogs.test_results import press
from tests.support.discord_bot import dream, job_id_of, running_bot
from tests.support.discord_emulator import Member
from tests.support.waiting import PATIENCE

MODEL = "vqgan-imagenet-f16-1024"  # served from a local mirror: a small VQGAN in the official layout
SECONDS = 4.0  # how long the mirror takes to send the checkpoint


async def slow_mirror(
    folder: Path, slow: tuple[str, ...] = (VQGAN_CHECKPOINT,), gate: asyncio.Event | None = None
) -> tuple[web.AppRunner, str, list[str]]:
    """Serves ``folder``'s files as ``/{model}/{name}``, the ``slow`` ones slowly (or half of them, then the rest
    once ``gate`` is set), with their length; notes each path asked for."""
    asked: list[str] = []

    async def serve(request: web.Request) -> web.StreamResponse:
        asked.append(request.path)
        data = (folder / request.match_info["model"] / request.match_info["name"]).read_bytes()
        response = web.StreamResponse(headers={"Content-Length": str(len(data))})
        await response.prepare(request)
        chunks = [data[i : i + 16384] for i in range(0, len(data), 16384)]
        for number, chunk in enumerate(chunks):
            if gate is not None and request.match_info["name"] in slow and number == len(chunks) // 2:
                await gate.wait()
            await response.write(chunk)
            await asyncio.sleep(SECONDS / len(chunks) if request.match_info["name"] in slow and gate is None else 0)
        await response.write_eof()
        return response

    app = web.Application()
    app.router.add_get("/{model}/{name}", serve)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    return runner, f"http://127.0.0.1:{port}", asked


@pytest.fixture
async def mirror(tmp_path, monkeypatch):
    save_vqgan(tmp_path / "served" / MODEL, TINY_VQGAN_YAML)
    runner, url, _ = await slow_mirror(tmp_path / "served")
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
            while (fetch := bot.supervisor.fetches.get(MODEL)) is None or fetch.percent is None:
                await asyncio.sleep(0.05)

        await asyncio.wait_for(fetching(), PATIENCE)
        _, text = await dream(emulator, "a fairy house", member=alice)
        assert text.startswith("The models are still downloading (") and "%); try again in a few minutes." in text
        assert await bot.store.queued() == [], "nothing was queued"

        async def fetched():
            while bot.supervisor.fetches or not (weights / MODEL / VQGAN_CHECKPOINT).is_file():
                await asyncio.sleep(0.05)

        await asyncio.wait_for(fetched(), PATIENCE)
        assert not list((weights / MODEL).glob("*.part")), "the partial file became the real one"
        _, text = await dream(emulator, "a fairy house", member=alice)
        await emulator.wait_title(job_id_of(text), "Done")


async def test_the_default_upscaler_and_dreamer_come_after_the_generator_beside_the_first_jobs(
    config, emulator, tmp_path, monkeypatch, forked_engine
):
    served = tmp_path / "served"
    save_vqgan(served / MODEL, TINY_VQGAN_YAML)
    extras = {"realesrgan-x4plus": ESRGAN_WEIGHTS, "inception-v1": GOOGLENET_WEIGHTS}
    for model, name in extras.items():  # not the published files: their pinned sha256 refuses them once fetched
        (served / model).mkdir()
        (served / model / name).write_bytes(bytes(range(256)) * 12288)  # 3 MiB: progress comes by the MiB
    gate = asyncio.Event()  # the upscaler's file stops halfway until the test has tried its button
    runner, url, asked = await slow_mirror(served, slow=tuple(extras.values()), gate=gate)
    monkeypatch.setenv(MIRROR_VARIABLE, url)
    fresh = dataclasses.replace(
        config,
        engine=dataclasses.replace(config.engine, weights_dir=str(tmp_path / "fresh-weights")),
        defaults=dataclasses.replace(config.defaults, model=MODEL, upscaler="realesrgan-x4plus", dreamer="inception-v1"),
    )
    alice = Member(emulator.snowflake(), "alice")
    try:
        async with running_bot(fresh, emulator, forked_engine(fresh)) as bot:

            async def fetching_the_upscaler():
                while (fetch := bot.supervisor.fetches.get("realesrgan-x4plus")) is None or fetch.percent is None:
                    await asyncio.sleep(0.05)

            await asyncio.wait_for(fetching_the_upscaler(), PATIENCE)
            _, text = await dream(emulator, "a fairy house", member=alice)
            done = await emulator.wait_title(job_id_of(text), "Done")  # the generator is here: it paints meanwhile
            answer = await press(emulator, done, "Upscale", alice)
            assert answer.startswith("The models are still downloading (realesrgan-x4plus: "), answer
            assert answer.endswith("%); try again in a few minutes."), answer
            assert await bot.store.queued() == [], "the upscale was not queued"
            assert bot.supervisor.fetches.keys() == {"realesrgan-x4plus"}, "one model under way, the others not"

            gate.set()

            async def fetched():
                while bot.supervisor.fetches or len(asked) < 4:
                    await asyncio.sleep(0.05)

            await asyncio.wait_for(fetched(), PATIENCE)
            assert asked == [
                f"/{MODEL}/model.yaml", f"/{MODEL}/{VQGAN_CHECKPOINT}",
                f"/realesrgan-x4plus/{ESRGAN_WEIGHTS}", f"/inception-v1/{GOOGLENET_WEIGHTS}",
            ], "the generator first, then the upscaler and the dreamer"  # fmt: skip
            _, text = await dream(emulator, "a fairy house", member=alice)
            await emulator.wait_title(job_id_of(text), "Done")
    finally:
        gate.set()
        await runner.cleanup()
