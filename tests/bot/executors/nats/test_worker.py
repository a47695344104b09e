"""``dreambot worker`` in this process, against a real NATS server: a stand-in engine plays each job, and the
test plays the bot (it hands out jobs and reads events off NATS). Seconds per test, and every line of the worker
runs where mutation testing sees it; ``test_remote_workers.py`` runs the real processes end to end."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import struct
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.config import Config, EngineConfig, QueueConfig, WorkerConfig
from bot.executors.nats.link import connect
from bot.executors.nats.worker import MAX_DELIVERIES, RemoteWorker, cancel_until_done, claim_config, held_models
from bot.queue.executor import EngineCrashed
from contract.costs import predict
from contract.protocol import Event, Failed, Finished, Progress, RenderRequest, Started
from contract.wire import JOBS_STREAM, input_key, job_subject, model_consumer
from tests.support.nats import NatsServer
from tests.support.waiting import PATIENCE, until

CLAIM = 1.0  # seconds: short, so that a claim left to lapse shows within a test


def picture(job_id: str, side: int = 32) -> bytes:
    """A PNG's header for a ``side``-square picture (what the bot reads before it decodes), then the job's id."""
    return b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + b"IHDR" + struct.pack(">II", side, side) + job_id.encode()


class StandInEngine:
    """Plays each job as ``steps`` progress events ``pause`` seconds apart, then a picture; records what it saw."""

    device = "stand-in"

    def __init__(
        self, steps: int = 2, pause: float = 0.0, crash: bool = False, broken: bool = False, memory_gib: float = 0.0
    ) -> None:
        self.steps, self.pause, self.crash, self.broken, self.memory_gib = steps, pause, crash, broken, memory_gib
        self.rendered: list[tuple[str, RenderRequest]] = []
        self.concepts: dict[str, tuple[str, ...]] = {}  # job id -> the concepts its pictures are scored against
        self.cancelled: list[str] = []
        self.seen_inputs: dict[str, list[bytes]] = {}
        self.resets = 0

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        pass

    async def reset(self) -> None:
        self.resets += 1

    async def cancel(self, job_id: str) -> None:
        self.cancelled.append(job_id)

    async def render(self, job_id: str, request: RenderRequest, concepts=()) -> AsyncIterator[Event]:
        self.rendered.append((job_id, request))
        self.concepts[job_id] = tuple(concepts)
        named = ([request.init_image] if request.init_image else []) + list(request.image_prompts)
        self.seen_inputs[job_id] = [Path(path).read_bytes() for path in named]
        yield Started(job_id, self.steps)
        for step in range(1, self.steps + 1):
            await asyncio.sleep(self.pause)
            yield Progress(job_id, step, self.steps)
        if self.crash:
            raise EngineCrashed("the engine process exited with code -9")
        if self.broken:  # an internal error the engine process survived, perhaps left broken
            yield Failed(job_id, "the engine hit an internal error (RuntimeError)", "", retryable=True)
            return
        yield Finished(job_id, picture(job_id), 1.0, (0.5,))


class Bot:
    """The bot's side, plainly: hands out jobs and keeps every event the workers send."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.events: dict[str, list[dict]] = {}
        self.progress: dict[str, list[int]] = {}
        self.painter: dict[str, str] = {}  # job id -> the worker whose subject its events came on

    async def start(self) -> None:
        self.link = await connect(QueueConfig(url=self.url), "test bot")
        await self.link.client.subscribe("dreambot.events.*.*", cb=self._event)
        await self.link.client.subscribe("dreambot.progress.*.*", cb=self._progress)

    async def _event(self, msg) -> None:
        data = json.loads(msg.data)
        self.events.setdefault(data["job_id"], []).append(data)
        self.painter[data["job_id"]] = msg.subject.split(".")[2]

    async def _progress(self, msg) -> None:
        data = json.loads(msg.data)
        self.progress.setdefault(data["job_id"], []).append(data["step"])

    def kinds(self, job_id: str) -> list[str]:
        return [event["kind"] for event in self.events.get(job_id, [])]

    async def hand_out(self, job_id: str, request: RenderRequest) -> None:
        payload = json.dumps({"job_id": job_id, "request": request.to_dict()}).encode()
        await self.link.jetstream.publish(job_subject(request.model, job_id), payload)

    async def ended(self, *job_ids: str) -> None:
        async with asyncio.timeout(PATIENCE):
            while not all({"stored", "failed", "cancelled"} & set(self.kinds(j)) for j in job_ids):
                await asyncio.sleep(0.02)

    async def stored(self, job_id: str) -> Finished:
        bucket = await self.link.results_of(self.painter[job_id])
        return Event.from_dict(json.loads((await bucket.get(job_id)).data))  # type: ignore[return-value]

    async def drained(self) -> None:
        """Until no job waits or is held in JetStream (a worker acknowledges a job just after its last event)."""
        async with asyncio.timeout(PATIENCE):
            while (await self.link.jetstream.stream_info(JOBS_STREAM)).state.messages:
                await asyncio.sleep(0.02)


def request(model: str = "tiny-vqgan", **fields) -> RenderRequest:
    return RenderRequest("a castle", model=model, perceptor="tiny-clip", width=32, height=32, steps=2, **fields)


def worker_config(url: str, name: str, models: tuple[str, ...] = ("tiny-vqgan",)) -> Config:
    return Config(queue=QueueConfig(url=url, claim_timeout=CLAIM), worker=WorkerConfig(name=name, models=list(models)))


@contextlib.asynccontextmanager
async def working(url: str, name: str, engine: StandInEngine, models: tuple[str, ...] = ("tiny-vqgan",)):
    worker = RemoteWorker(worker_config(url, name, models), engine)  # type: ignore[arg-type]
    task = asyncio.create_task(worker.run())
    try:
        yield worker
    finally:
        await cancel_until_done(task)  # as SIGTERM stops it
        with contextlib.suppress(asyncio.CancelledError):
            await task


@pytest.fixture
async def server(tmp_path) -> AsyncIterator[NatsServer]:
    server = NatsServer(tmp_path / "nats")
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def bot(server) -> AsyncIterator[Bot]:
    bot = Bot(server.url)
    await bot.start()
    yield bot
    await bot.link.close()


async def test_a_job_is_painted_once_its_picture_stored_and_its_progress_sent(bot):
    engine = StandInEngine(steps=3)
    async with working(bot.url, "solo", engine):
        await bot.hand_out("j1", request())
        await bot.ended("j1")
        await bot.drained()
    assert [job_id for job_id, _ in engine.rendered] == ["j1"] and engine.rendered[0][1] == request()
    assert bot.kinds("j1") == ["started", "stored"]
    assert (await bot.stored("j1")).png == picture("j1")
    assert bot.progress["j1"] == [1, 2, 3]


async def test_a_job_longer_than_its_claim_is_renewed_and_painted_once_while_another_worker_waits(bot):
    """The claim lapses after 1 s unless renewed; the job takes 3.5 s, and an idle worker asks all along."""
    first, second = StandInEngine(steps=35, pause=0.1), StandInEngine(steps=35, pause=0.1)  # whichever takes it
    async with working(bot.url, "first", first), working(bot.url, "second", second):
        await bot.hand_out("long", request())
        await bot.ended("long")
        await asyncio.sleep(2 * CLAIM)  # a lapsed claim would hand the job out again now
    assert len(first.rendered) + len(second.rendered) == 1
    assert bot.kinds("long") == ["started", "stored"]


async def test_each_worker_takes_only_the_models_it_holds(bot):
    vqgan, pixels = StandInEngine(), StandInEngine()
    async with working(bot.url, "vqgan", vqgan), working(bot.url, "pixels", pixels, ("pixels",)):
        await bot.hand_out("a", request("pixels"))
        await bot.hand_out("b", request())
        await bot.ended("a", "b")
    assert [j for j, _ in vqgan.rendered] == ["b"] and [j for j, _ in pixels.rendered] == ["a"]


async def test_a_malformed_job_is_dropped_unpainted_and_the_next_one_runs(bot):
    engine = StandInEngine()
    await bot.link.jetstream.publish(job_subject("tiny-vqgan", "bad1"), b"not json")
    await bot.link.jetstream.publish(job_subject("tiny-vqgan", "bad2"), json.dumps({"job_id": "bad2"}).encode())
    bad_request = {"job_id": "bad3", "request": {"prompt": "x", "no_such_field": 1}}
    await bot.link.jetstream.publish(job_subject("tiny-vqgan", "bad3"), json.dumps(bad_request).encode())
    bad_concepts = {"job_id": "bad4", "request": request().to_dict(), "concepts": "gore"}
    await bot.link.jetstream.publish(job_subject("tiny-vqgan", "bad4"), json.dumps(bad_concepts).encode())
    async with working(bot.url, "solo", engine):
        await bot.hand_out("good", request())
        await bot.ended("good")
        await bot.drained()  # the malformed jobs are gone for good, not handed out again
    assert [job_id for job_id, _ in engine.rendered] == ["good"]


@pytest.mark.parametrize("earlier", [MAX_DELIVERIES - 1, MAX_DELIVERIES])
async def test_a_job_handed_out_too_often_is_failed_instead_of_painted(bot, earlier):
    await bot.hand_out("tired", request())
    queue = await bot.link.jetstream.pull_subscribe(
        "dreambot.jobs.tiny-vqgan.*", durable=model_consumer("tiny-vqgan"), stream=JOBS_STREAM, config=claim_config(CLAIM)
    )
    for _ in range(earlier):  # each of these workers took the job and died
        (msg,) = await queue.fetch(1, timeout=PATIENCE)
        await msg.nak()
    engine = StandInEngine()
    async with working(bot.url, "last", engine):
        await bot.ended("tired")
    painted = earlier < MAX_DELIVERIES
    assert len(engine.rendered) == int(painted)
    assert bot.kinds("tired") == (["started", "stored"] if painted else ["failed"])
    if not painted:
        assert f"workers stopped while painting this {MAX_DELIVERIES} times" in bot.events["tired"][0]["reason"]


async def test_a_cancel_reaches_the_job_it_names_and_no_other(bot):
    engine = StandInEngine(steps=100, pause=0.05)
    async with working(bot.url, "solo", engine):
        await bot.hand_out("running", request())
        async with asyncio.timeout(PATIENCE):
            while not bot.progress.get("running"):
                await asyncio.sleep(0.02)
        await bot.link.client.publish("dreambot.cancel.other", b"")
        await bot.link.client.publish("dreambot.cancel.running", b"")
        async with asyncio.timeout(PATIENCE):
            while not engine.cancelled:
                await asyncio.sleep(0.02)
        await asyncio.sleep(0.2)  # the other cancel came first: had it been taken, it would be listed
    assert engine.cancelled == ["running"]


async def test_the_pictures_a_job_names_reach_the_engine_and_the_workers_copies_are_removed_after(bot, tmp_path):
    start, steer = b"start-picture", b"steering-picture"
    await bot.link.inputs.put(input_key("pics", 0), start)
    await bot.link.inputs.put(input_key("pics", 1), steer)
    engine = StandInEngine()
    async with working(bot.url, "solo", engine):
        await bot.hand_out("pics", request(init_image="/bot/disk/init.png", image_prompts=("/bot/disk/p.png:0.5",)))
        await bot.ended("pics")
    assert engine.seen_inputs["pics"] == [start, steer]
    ((_, seen),) = engine.rendered
    assert seen.init_image.endswith("0.png") and not Path(seen.init_image).exists(), "the worker's copy is removed"
    assert (await bot.link.inputs.get(input_key("pics", 0))).data == start, "the bot's to remove, not the worker's"


async def test_a_picture_missing_from_the_store_fails_the_job_with_what_to_do(bot):
    engine = StandInEngine()
    async with working(bot.url, "solo", engine):
        await bot.hand_out("lost", request(init_image="/bot/disk/init.png"))
        await bot.ended("lost")
    assert engine.rendered == [] and bot.kinds("lost") == ["failed"]
    assert "never reached the worker; queue it again" in bot.events["lost"][0]["reason"]


@pytest.mark.parametrize(("fault", "reason"), [("crash", "worker shaky stopped unexpectedly"), ("broken", "internal error")])
async def test_an_engine_that_fails_a_job_for_a_retry_is_restarted_before_the_next(bot, fault, reason):
    """The engine died, or hit an internal error that may have left it broken: without a restart a worker would
    fail every job twice."""
    engine = StandInEngine(**{fault: True})
    async with working(bot.url, "shaky", engine):
        await bot.hand_out("bad", request())
        await bot.ended("bad")
        assert engine.resets == 1 and bot.kinds("bad") == ["started", "failed"]
        failed = Event.from_dict(bot.events["bad"][1])
        assert isinstance(failed, Failed) and failed.retryable and reason in failed.reason
        setattr(engine, fault, False)
        await bot.hand_out("next", request())
        await bot.ended("next")
    assert bot.kinds("next") == ["started", "stored"] and engine.resets == 1


async def test_a_worker_announces_what_it_holds_and_what_it_paints(bot):
    seen: list[dict] = []

    async def note(msg) -> None:
        seen.append(json.loads(msg.data))

    await bot.link.client.subscribe("dreambot.workers.*", cb=note)
    engine = StandInEngine(steps=40, pause=0.05)
    async with working(bot.url, "announcer", engine, ("tiny-vqgan", "pixels")):
        await bot.hand_out("busy", request())
        await bot.ended("busy")
        await asyncio.sleep(0.3)
    assert {(s["worker_id"], tuple(s["models"]), s["device"]) for s in seen} == {
        ("announcer", ("tiny-vqgan", "pixels"), "stand-in")
    }
    jobs = [s["job_id"] for s in seen]
    assert "busy" in jobs and jobs[0] is None and jobs[-1] is None, "free, then painting, then free again"


def test_a_worker_holds_the_models_it_is_told_or_those_whose_weights_it_has(tmp_path):
    told = Config(worker=WorkerConfig(models=["pixels"]))
    assert held_models(told) == ("pixels",)
    found = held_models(Config(engine=EngineConfig(weights_dir=str(tmp_path))))
    assert "tiny-vqgan" in found and "pixels" in found and "vqgan-imagenet-f16-16384" not in found
    (tmp_path / "vqgan-imagenet-f16-16384").mkdir()
    assert "vqgan-imagenet-f16-16384" not in held_models(Config(engine=EngineConfig(weights_dir=str(tmp_path))))


async def test_a_stop_ends_the_worker_even_when_a_cancel_is_swallowed():
    """On Python 3.11 a cancel landing as nats-py's ``wait_for`` completes is lost; the stop cancels until it ends."""
    swallowed: list[bool] = []

    async def stubborn() -> None:
        try:
            await asyncio.sleep(PATIENCE)
        except asyncio.CancelledError:
            swallowed.append(True)  # as a cancel lost inside nats-py
        await asyncio.sleep(PATIENCE)

    task = asyncio.create_task(stubborn())
    await asyncio.sleep(0)
    await asyncio.wait_for(cancel_until_done(task, every=0.05), 5.0)  # 100x what it takes
    assert task.cancelled() and swallowed == [True]


async def test_a_job_too_large_for_a_workers_memory_is_left_for_one_that_holds_it(bot, caplog):
    """The small worker alone is offered the job first and declines it; the large one, once up, paints it, once."""
    vqgan = "vqgan-imagenet-f16-16384"
    small, large = StandInEngine(memory_gib=4.0), StandInEngine(memory_gib=16.0)
    wide = dataclasses.replace(request(vqgan), width=512, height=384)
    declined = f"job wide needs about {predict(wide).memory_gib:.1f} GiB, more than this worker's 4.0; left for another"
    caplog.set_level(logging.INFO, logger="bot.executors.nats.worker")
    async with working(bot.url, "small", small, (vqgan,)):
        await bot.hand_out("wide", wide)
        await until(lambda: declined in caplog.text)
        async with working(bot.url, "large", large, (vqgan,)):
            await bot.ended("wide")
    assert small.rendered == [] and [job_id for job_id, _ in large.rendered] == ["wide"]
    assert bot.kinds("wide") == ["started", "stored"]
