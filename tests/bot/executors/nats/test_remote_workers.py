"""Remote workers over a real NATS server: ``dreambot worker`` processes on tiny models, and the bot's
scheduler with the dispatcher as its executor (the reporter takes notes instead of posting)."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import os
import signal
import sys
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import nats
import pytest
from nats.js.errors import NotFoundError
from PIL import Image

from bot.config import QueueConfig
from bot.executors.nats.dispatch import Dispatcher
from bot.executors.nats.link import connect
from bot.executors.nats.worker import MAX_DELIVERIES, claim_config
from bot.queue.files import JobFiles
from bot.queue.jobs import Job, JobState
from bot.queue.scheduler import Scheduler
from bot.queue.store import Store
from contract.protocol import RenderRequest
from contract.wire import INPUTS_BUCKET, JOBS_STREAM, job_subject, model_consumer
from tests.support.nats import NatsServer
from tests.support.processes import ROOT
from tests.support.waiting import PATIENCE, until

CLAIM = 4.0  # seconds: a silent worker's job goes elsewhere after this
FORKED_WORKER = "import sys; from tests.support.forked_engine import worker; sys.exit(worker(sys.argv[1], sys.argv[2:]))"


class Notes:
    """A reporter that records what happened to each job, and which worker was painting it."""

    def __init__(self, store: Store, dispatcher: Dispatcher) -> None:
        self.store, self.dispatcher = store, dispatcher
        self.painters: dict[str, set[str]] = {}
        self.steps: dict[str, list[int]] = {}
        self.ended: dict[str, str] = {}
        self.posted: list[str] = []  # every finished picture posted, in order
        self.pictures: dict[str, bytes] = {}

    async def started(self, job: Job) -> None:
        pass

    async def progress(self, job: Job, event) -> None:
        self.steps.setdefault(job.id, []).append(event.step)
        for worker in self.dispatcher.online():
            if worker.job_id == job.id:
                self.painters.setdefault(job.id, set()).add(worker.worker_id)

    async def finished(
        self, job: Job, png: bytes, film: bytes | None = None, candidates: Sequence[bytes] = (), scores=None, description=None
    ) -> None:
        assert png.startswith(b"\x89PNG")
        self.ended[job.id] = "done"
        self.posted.append(job.id)
        self.pictures[job.id] = png
        await self.store.mark_shown(job.id, job.state)

    async def failed(self, job: Job, reason: str, hint: str) -> None:
        self.ended[job.id] = f"failed: {reason}"
        await self.store.mark_shown(job.id, job.state)

    async def cancelled(self, job: Job) -> None:
        self.ended[job.id] = "cancelled"
        await self.store.mark_shown(job.id, job.state)

    async def queue_moved(self, order: list[Job]) -> None:
        pass


async def start_worker(
    folder: Path, url: str, name: str, models: list[str], zygote: Path | None, credentials: str = ""
) -> asyncio.subprocess.Process:
    """``dreambot worker``; its engines forked from ``zygote`` (tests/support/forked_engine.py), or with ``None``
    started as the worker starts them (for tests that kill or freeze a worker's whole machine); ``credentials``:
    its file, for a secured server."""
    folder.mkdir(parents=True, exist_ok=True)
    config = folder / "config.toml"
    listed = ", ".join(f'"{m}"' for m in models)
    config.write_text(
        f'[engine]\ndevice = "cpu"\nweights_dir = "{folder / "weights"}"\n'
        f'[queue]\nurl = "{url}"\nclaim_timeout = {CLAIM}\ncredentials = "{credentials}"\n'
        f'[worker]\nname = "{name}"\nmodels = [{listed}]\n'
    )
    env = {k: v for k, v in os.environ.items() if k not in ("DISCORD_TOKEN", "DREAMBOT_CONFIG")}
    env["PYTHONPATH"] = str(ROOT)
    log = (folder / "worker.log").open("wb")
    command = ["-m", "bot"] if zygote is None else ["-c", FORKED_WORKER, str(zygote)]
    return await asyncio.create_subprocess_exec(
        sys.executable, *command, "worker", "--config", str(config), cwd=folder, env=env, stdout=log, stderr=log
    )


def children(pid: int) -> list[int]:
    """The processes ``pid`` started (a worker's engine), from /proc."""
    listed = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [int(child) for child in listed]


class Cluster:
    """NATS, ``dreambot worker`` processes, and the bot's store, dispatcher and scheduler in this process."""

    def __init__(self, tmp_path: Path, nats: NatsServer, zygote: Path) -> None:
        self.tmp_path, self.nats, self.zygote = tmp_path, nats, zygote
        self.workers: dict[str, asyncio.subprocess.Process] = {}
        self.notes: Notes | None = None

    async def start(self) -> None:
        """Start the bot (again, after ``stop_bot``: the same database and reporter)."""
        self.store = await Store.open(self.tmp_path / "bot.sqlite3")
        self.dispatcher = Dispatcher(QueueConfig(url=self.nats.url, claim_timeout=CLAIM, credentials=self.nats.credential("bot")))
        if self.notes is None:
            self.notes = Notes(self.store, self.dispatcher)
        self.notes.store, self.notes.dispatcher = self.store, self.dispatcher
        self.scheduler = Scheduler(self.store, self.dispatcher, self.notes, JobFiles(self.tmp_path / "files"))
        self.dispatcher.on_change = self.scheduler.wake
        await self.dispatcher.start()
        self.task = asyncio.create_task(self.scheduler.run())

    async def worker(self, name: str, models: list[str]) -> None:
        await self.start_workers({name: models})

    async def start_workers(self, models: dict[str, list[str]], forked: bool = True) -> None:
        """Start workers side by side and wait until each is online; ``forked``: their engines forked from the
        session's zygote, else started as a worker starts them (they load side by side)."""
        for name, held in models.items():
            zygote = self.zygote if forked else None
            secret = self.nats.credential(f"worker-{name}")
            self.workers[name] = await start_worker(self.tmp_path / name, self.nats.url, name, held, zygote, secret)
        await until(lambda: set(models) <= {w.worker_id for w in self.dispatcher.online()})

    async def submit(self, user: int, prompt: str, model: str = "tiny-vqgan", steps: int = 8) -> Job:
        # 8 cutouts, not 32: these jobs carry the plumbing, and each step costs 35 ms instead of 60
        request = RenderRequest(prompt, model=model, perceptor="tiny-clip", width=32, height=32, steps=steps, seed=user, cutn=8)
        job = await self.store.add_job(Job(os.urandom(8).hex(), 1, 2, user, f"member{user}", request))
        self.scheduler.wake()
        return job

    async def stop_bot(self) -> None:
        """The bot goes away mid-job, as in a crash: running jobs stay running in its database."""
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)
        await self.scheduler.close()
        await self.dispatcher.stop()
        await self.store.close()

    async def stop(self) -> None:
        await self.stop_bot()
        for process in self.workers.values():
            if process.returncode is None:
                process.kill()
            await process.wait()


WORKERS = ("left", "right", "upscaler", "one", "two", "leaving", "steady", "vqgan-only", "pixels-too", "first", "second", "solo")


class Watch:
    """Every job event the workers send, read off NATS beside the bot."""

    def __init__(self) -> None:
        self.kinds: dict[str, list[str]] = {}

    async def start(self, server: NatsServer) -> None:
        """As the bot may read them: from JetStream, with the bot's credential."""
        self.client = await nats.connect(server.url, **server.login("bot"))
        await self.client.jetstream().subscribe("dreambot.events.>", cb=self._seen, ordered_consumer=True)

    async def _seen(self, msg) -> None:
        data = json.loads(msg.data)
        self.kinds.setdefault(data["job_id"], []).append(data["kind"])

    async def handed_out(self) -> int:
        """Jobs in JetStream's work queue: waiting, or held by a worker."""
        return (await self.client.jetstream().stream_info(JOBS_STREAM)).state.messages


@pytest.fixture
async def cluster(tmp_path, zygote) -> AsyncIterator[Cluster]:
    nats = NatsServer(tmp_path / "nats", secured=list(WORKERS))  # authenticated, as nats-config sets servers up
    await nats.start()
    cluster = Cluster(tmp_path, nats, zygote)
    await cluster.start()
    try:
        yield cluster
    finally:
        await cluster.stop()
        await nats.stop()


@pytest.fixture
async def watch(cluster) -> AsyncIterator[Watch]:
    watch = Watch()
    await watch.start(cluster.nats)
    yield watch
    await watch.client.close()


async def test_two_workers_paint_every_members_jobs_each_once(cluster, watch):
    await cluster.start_workers({"left": ["tiny-vqgan"], "right": ["tiny-vqgan"]})
    jobs = [await cluster.submit(user, f"a castle {i}") for i in range(2) for user in (1, 2, 3)]
    await until(lambda: len(cluster.notes.ended) == len(jobs))
    assert all(cluster.notes.ended[j.id] == "done" for j in jobs)
    assert sorted(cluster.notes.posted) == sorted(j.id for j in jobs), "each picture posted once"
    assert all(watch.kinds[j.id] == ["started", "stored"] for j in jobs), "each job painted once, by one worker"
    assert {w for j in jobs for w in cluster.notes.painters.get(j.id, ())} == {"left", "right"}
    states = {j.id: (await cluster.store.job(j.id)).state for j in jobs}
    assert set(states.values()) == {JobState.DONE}


async def test_the_pictures_a_job_names_on_the_bots_disk_travel_to_the_worker(cluster, tmp_path, monkeypatch):
    """An upscale (a picture on the bot's disk, named by a path the worker cannot resolve: it runs in another
    folder) goes to the worker that holds the upscaler, through the object store, and comes back 4x."""
    monkeypatch.chdir(tmp_path)
    await cluster.worker("upscaler", ["tiny-esrgan"])
    Path("bot-files").mkdir()
    Image.effect_noise((16, 12), 60).convert("RGB").save("bot-files/result.png")
    request = RenderRequest("a castle", model="tiny-esrgan", width=16, height=12, steps=1, init_image="bot-files/result.png")
    job = await cluster.store.add_job(Job(os.urandom(8).hex(), 1, 2, 1, "member1", request))
    cluster.scheduler.wake()
    await until(lambda: job.id in cluster.notes.ended)
    assert cluster.notes.ended[job.id] == "done"
    assert Image.open(io.BytesIO(cluster.notes.pictures[job.id])).size == (64, 48)
    assert "fetched 1 input picture(s)" in (tmp_path / "upscaler" / "worker.log").read_text()
    store = await nats.connect(cluster.nats.url, **cluster.nats.login("bot"))
    try:
        left = [info.name for info in await (await store.jetstream().object_store(INPUTS_BUCKET)).list(ignore_deletes=True)]
    except NotFoundError:  # nothing at all is left
        left = []
    finally:
        await store.close()
    assert not [name for name in left if ".input." in name]


@pytest.mark.parametrize("fault", [signal.SIGKILL, signal.SIGSTOP], ids=["killed", "hung"])
async def test_a_lost_worker_loses_its_job_to_another_once_its_claim_lapses(cluster, fault):
    """Both workers are up before the job, so the fault lands mid-job however slow the machine is."""
    await cluster.start_workers({"one": ["tiny-vqgan"], "two": ["tiny-vqgan"]}, forked=False)
    job = await cluster.submit(1, "a lighthouse", steps=150)  # the fault lands within ms of step 2: 5 s to spare
    await until(lambda: len(cluster.notes.steps.get(job.id, [])) >= 2 and cluster.notes.painters.get(job.id))
    (lost,) = cluster.notes.painters[job.id]
    rescuer = ({"one", "two"} - {lost}).pop()
    # The whole machine fails: the worker and its engine (a hung worker's engine would otherwise go on
    # painting the lost job, on the CPU the rescuer needs).
    pids = [*children(cluster.workers[lost].pid), cluster.workers[lost].pid]
    for pid in pids:
        os.kill(pid, fault)
    try:
        await until(lambda: job.id in cluster.notes.ended)
    finally:
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)
    assert cluster.notes.ended[job.id] == "done" and rescuer in cluster.notes.painters[job.id]


async def test_a_worker_told_to_stop_exits_and_stops_its_engine(cluster):
    await cluster.worker("leaving", ["tiny-vqgan"])
    process = cluster.workers["leaving"]
    engines = children(process.pid)
    assert engines, "the worker runs its engine"
    process.send_signal(signal.SIGTERM)
    async with asyncio.timeout(PATIENCE):
        assert await process.wait() == 0
    await until(lambda: not any(Path(f"/proc/{pid}").exists() for pid in engines))


async def test_a_restarted_nats_server_is_a_pause(cluster):
    await cluster.worker("steady", ["tiny-vqgan"])
    job = await cluster.submit(1, "a lighthouse", steps=150)
    await until(lambda: len(cluster.notes.steps.get(job.id, [])) >= 2)
    await cluster.nats.stop()
    await asyncio.sleep(1.0)
    await cluster.nats.start()
    after = await cluster.submit(2, "a castle")
    await until(lambda: {job.id, after.id} <= set(cluster.notes.ended))
    assert cluster.notes.ended[job.id] == cluster.notes.ended[after.id] == "done"


async def test_a_job_goes_only_to_a_worker_with_its_model_and_waits_for_one(cluster):
    await cluster.worker("vqgan-only", ["tiny-vqgan"])
    waiting = await cluster.submit(1, "pixels please", model="pixels")
    done = await cluster.submit(2, "a castle")
    await until(lambda: done.id in cluster.notes.ended)
    assert waiting.id not in cluster.notes.ended
    assert (await cluster.store.job(waiting.id)).state == JobState.QUEUED
    assert cluster.dispatcher.painters_of(waiting.request) == []
    await cluster.worker("pixels-too", ["pixels"])
    await until(lambda: waiting.id in cluster.notes.ended)
    assert cluster.notes.ended[waiting.id] == "done" and cluster.notes.painters[waiting.id] == {"pixels-too"}


async def test_a_long_job_keeps_its_claim_and_is_painted_once_while_another_worker_waits(cluster, watch):
    """The worker renews its claim while it paints: over three claim timeouts the idle worker never gets the job."""
    await cluster.start_workers({"first": ["tiny-vqgan"], "second": ["tiny-vqgan"]})
    job = await cluster.submit(1, "a long one", steps=10_000)
    await until(lambda: len(cluster.notes.steps.get(job.id, [])) >= 2)
    await asyncio.sleep(3 * CLAIM)  # not a ceiling: the time over which the claim must hold
    assert watch.kinds[job.id] == ["started"], "the job was handed out again"
    assert len(cluster.notes.painters[job.id]) == 1
    logs = [(cluster.tmp_path / name / "worker.log").read_text() for name in ("first", "second")]
    assert sum(log.count(f"job {job.id}: tiny-vqgan") for log in logs) == 1
    assert await cluster.scheduler.cancel(await cluster.store.job(job.id))
    await until(lambda: job.id in cluster.notes.ended)


async def test_cancel_reaches_the_worker_running_the_job(cluster):
    await cluster.worker("solo", ["tiny-vqgan"])
    job = await cluster.submit(1, "a long one", steps=2000)
    await until(lambda: len(cluster.notes.steps.get(job.id, [])) >= 2)
    assert await cluster.scheduler.cancel(await cluster.store.job(job.id))
    await until(lambda: job.id in cluster.notes.ended)
    assert cluster.notes.ended[job.id] == "cancelled"
    assert (await cluster.store.job(job.id)).state == JobState.CANCELLED


@pytest.mark.parametrize("while_away", [True, False], ids=["finishes-while-the-bot-is-away", "finishes-after"])
async def test_a_restarted_bot_posts_a_running_job_once_and_never_has_it_painted_again(cluster, watch, while_away):
    await cluster.worker("steady", ["tiny-vqgan"])
    job = await cluster.submit(1, "a lighthouse", steps=120)
    await until(lambda: len(cluster.notes.steps.get(job.id, [])) >= 2)
    await cluster.stop_bot()
    if while_away:
        await until(lambda: "stored" in watch.kinds.get(job.id, []))
    cluster.notes.steps[job.id] = []
    await cluster.start()
    await until(lambda: job.id in cluster.notes.ended)
    assert cluster.notes.posted == [job.id]
    assert watch.kinds[job.id].count("started") == 1
    assert await watch.handed_out() == 0
    if not while_away:
        assert cluster.notes.steps[job.id], "the restarted bot shows the job's progress again"


async def test_a_job_handed_out_too_often_is_failed_instead_of_painted_again(tmp_path, zygote):
    """Each worker that took the job died (here: the test takes it and gives it back); past MAX_DELIVERIES it is failed."""
    nats_server = NatsServer(tmp_path / "nats")
    await nats_server.start()
    link = await connect(QueueConfig(url=nats_server.url), "test")
    watch = Watch()
    await watch.start(nats_server)
    earlier = {"tiny-vqgan": MAX_DELIVERIES - 1, "pixels": MAX_DELIVERIES}  # one queue per model: no race for the job
    worker = None
    try:
        for model, times in earlier.items():
            request = RenderRequest("a castle", model=model, perceptor="tiny-clip", width=32, height=32, steps=4)
            payload = json.dumps({"job_id": model, "request": request.to_dict()}).encode()
            await link.jetstream.publish(job_subject(model, model), payload)
            queue = await link.jetstream.pull_subscribe(
                f"dreambot.jobs.{model}.*", durable=model_consumer(model), stream=JOBS_STREAM, config=claim_config(CLAIM)
            )
            for _ in range(times):
                (msg,) = await queue.fetch(1, timeout=10)
                await msg.nak()
        worker = await start_worker(tmp_path / "worker", nats_server.url, "last", list(earlier), zygote)
        await until(lambda: all({"stored", "failed"} & set(watch.kinds.get(m, [])) for m in earlier))
        assert watch.kinds["tiny-vqgan"] == ["started", "stored"]
        assert watch.kinds["pixels"] == ["failed"]
    finally:
        if worker is not None:
            worker.kill()
            await worker.wait()
        await watch.client.close()
        await link.close()
        await nats_server.stop()
