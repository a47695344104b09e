"""Remote workers over a real NATS server: ``dreambot worker`` processes on tiny models, and the bot's
scheduler with the dispatcher as its executor (the reporter takes notes instead of posting)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.config import QueueConfig
from bot.dispatch import Dispatcher
from bot.files import JobFiles
from bot.jobs import Job, JobState
from bot.scheduler import Scheduler
from bot.store import Store
from contract.protocol import RenderRequest
from tests.support.nats import NatsServer
from tests.support.processes import ROOT

CLAIM = 4.0  # seconds: a silent worker's job goes elsewhere after this


class Notes:
    """A reporter that records what happened to each job, and which worker was painting it."""

    def __init__(self, store: Store, dispatcher: Dispatcher) -> None:
        self.store, self.dispatcher = store, dispatcher
        self.painters: dict[str, set[str]] = {}
        self.steps: dict[str, list[int]] = {}
        self.ended: dict[str, str] = {}

    async def started(self, job: Job) -> None:
        pass

    async def progress(self, job: Job, event) -> None:
        self.steps.setdefault(job.id, []).append(event.step)
        for worker in self.dispatcher.online():
            if worker.job_id == job.id:
                self.painters.setdefault(job.id, set()).add(worker.worker_id)

    async def finished(self, job: Job, png: bytes) -> None:
        assert png.startswith(b"\x89PNG")
        self.ended[job.id] = "done"
        await self.store.mark_shown(job.id, job.state)

    async def failed(self, job: Job, reason: str, hint: str) -> None:
        self.ended[job.id] = f"failed: {reason}"
        await self.store.mark_shown(job.id, job.state)

    async def cancelled(self, job: Job) -> None:
        self.ended[job.id] = "cancelled"
        await self.store.mark_shown(job.id, job.state)

    async def queue_moved(self, order: list[Job]) -> None:
        pass


async def start_worker(folder: Path, url: str, name: str, models: list[str]) -> asyncio.subprocess.Process:
    folder.mkdir(parents=True, exist_ok=True)
    config = folder / "config.toml"
    listed = ", ".join(f'"{m}"' for m in models)
    config.write_text(
        f'[engine]\ndevice = "cpu"\nweights_dir = "{folder / "weights"}"\n'
        f'[queue]\nurl = "{url}"\nclaim_timeout = {CLAIM}\n[worker]\nname = "{name}"\nmodels = [{listed}]\n'
    )
    env = {k: v for k, v in os.environ.items() if k not in ("DISCORD_TOKEN", "DREAMBOT_CONFIG")}
    env["PYTHONPATH"] = str(ROOT)
    log = (folder / "worker.log").open("wb")
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "worker", "--config", str(config), cwd=folder, env=env, stdout=log, stderr=log
    )


async def until(condition, timeout: float = 60.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.05)


class Cluster:
    def __init__(self, tmp_path: Path, nats: NatsServer) -> None:
        self.tmp_path, self.nats = tmp_path, nats
        self.workers: dict[str, asyncio.subprocess.Process] = {}

    async def start(self) -> None:
        self.store = await Store.open(self.tmp_path / "bot.sqlite3")
        self.dispatcher = Dispatcher(QueueConfig(url=self.nats.url, claim_timeout=CLAIM))
        self.notes = Notes(self.store, self.dispatcher)
        self.scheduler = Scheduler(self.store, self.dispatcher, self.notes, JobFiles(self.tmp_path / "files"))
        self.dispatcher.on_change = self.scheduler.wake
        await self.dispatcher.start()
        self.task = asyncio.create_task(self.scheduler.run())

    async def worker(self, name: str, models: list[str]) -> None:
        self.workers[name] = await start_worker(self.tmp_path / name, self.nats.url, name, models)
        await until(lambda: name in {w.worker_id for w in self.dispatcher.online()}, 90)

    async def submit(self, user: int, prompt: str, model: str = "tiny-vqgan", steps: int = 8) -> Job:
        request = RenderRequest(prompt, model=model, perceptor="tiny-clip", width=32, height=32, steps=steps, seed=user)
        job = await self.store.add_job(Job(os.urandom(8).hex(), 1, 2, user, f"member{user}", request))
        self.scheduler.wake()
        return job

    async def stop(self) -> None:
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)
        await self.scheduler.close()
        await self.dispatcher.stop()
        for process in self.workers.values():
            if process.returncode is None:
                process.kill()
            await process.wait()
        await self.store.close()


@pytest.fixture
async def cluster(tmp_path) -> AsyncIterator[Cluster]:
    nats = NatsServer(tmp_path / "nats")
    await nats.start()
    cluster = Cluster(tmp_path, nats)
    await cluster.start()
    try:
        yield cluster
    finally:
        await cluster.stop()
        await nats.stop()


async def test_two_workers_paint_every_members_jobs(cluster):
    await cluster.worker("left", ["tiny-vqgan"])
    await cluster.worker("right", ["tiny-vqgan"])
    jobs = [await cluster.submit(user, f"a castle {i}") for i in range(2) for user in (1, 2, 3)]
    await until(lambda: len(cluster.notes.ended) == len(jobs), 120)
    assert all(cluster.notes.ended[j.id] == "done" for j in jobs)
    assert {w for j in jobs for w in cluster.notes.painters.get(j.id, ())} == {"left", "right"}
    states = {j.id: (await cluster.store.job(j.id)).state for j in jobs}
    assert set(states.values()) == {JobState.DONE}


@pytest.mark.parametrize("fault", [signal.SIGKILL, signal.SIGSTOP], ids=["killed", "hung"])
async def test_a_lost_worker_loses_its_job_to_another_once_its_claim_lapses(cluster, fault):
    await cluster.worker("lost", ["tiny-vqgan"])
    job = await cluster.submit(1, "a lighthouse", steps=400)
    await until(lambda: len(cluster.notes.steps.get(job.id, [])) >= 2, 60)
    await cluster.worker("rescuer", ["tiny-vqgan"])
    cluster.workers["lost"].send_signal(fault)
    try:
        await until(lambda: job.id in cluster.notes.ended, 120)
    finally:
        with contextlib.suppress(ProcessLookupError):
            cluster.workers["lost"].send_signal(signal.SIGCONT)
    assert cluster.notes.ended[job.id] == "done" and "rescuer" in cluster.notes.painters[job.id]


async def test_a_restarted_nats_server_is_a_pause(cluster):
    await cluster.worker("steady", ["tiny-vqgan"])
    job = await cluster.submit(1, "a lighthouse", steps=150)
    await until(lambda: len(cluster.notes.steps.get(job.id, [])) >= 2, 60)
    await cluster.nats.stop()
    await asyncio.sleep(1.0)
    await cluster.nats.start()
    after = await cluster.submit(2, "a castle")
    await until(lambda: {job.id, after.id} <= set(cluster.notes.ended), 120)
    assert cluster.notes.ended[job.id] == cluster.notes.ended[after.id] == "done"


async def test_a_job_goes_only_to_a_worker_with_its_model_and_waits_for_one(cluster):
    await cluster.worker("vqgan-only", ["tiny-vqgan"])
    waiting = await cluster.submit(1, "pixels please", model="pixels")
    done = await cluster.submit(2, "a castle")
    await until(lambda: done.id in cluster.notes.ended, 90)
    assert waiting.id not in cluster.notes.ended
    assert (await cluster.store.job(waiting.id)).state == JobState.QUEUED
    assert cluster.dispatcher.painters_of(waiting.request) == []
    await cluster.worker("pixels-too", ["pixels"])
    await until(lambda: waiting.id in cluster.notes.ended, 90)
    assert cluster.notes.ended[waiting.id] == "done" and cluster.notes.painters[waiting.id] == {"pixels-too"}


async def test_cancel_reaches_the_worker_running_the_job(cluster):
    await cluster.worker("solo", ["tiny-vqgan"])
    job = await cluster.submit(1, "a long one", steps=2000)
    await until(lambda: len(cluster.notes.steps.get(job.id, [])) >= 2, 60)
    assert await cluster.scheduler.cancel(await cluster.store.job(job.id))
    await until(lambda: job.id in cluster.notes.ended, 30)
    assert cluster.notes.ended[job.id] == "cancelled"
    assert (await cluster.store.job(job.id)).state == JobState.CANCELLED
