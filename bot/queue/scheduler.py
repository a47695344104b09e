"""Runs queued jobs on an executor in round-robin order, and tells a reporter.

The executor is the local engine (one job at a time) or the remote workers (a job whenever a worker
that holds its model is free); the scheduler starts the first job in order that the executor can
take now, so the order is always this one's, never the broker's. The scheduler knows nothing of
Discord: the reporter (``bot/display/reporter.py``) turns what happens into messages. A job whose engine
dies or fails in a way worth retrying is retried once on a fresh engine, then reported failed.
Nothing stops the queue: an error outside a job (a locked database, a full disk) is logged and the
loop tries again after a pause that doubles up to ``MAX_BACKOFF``. At start, and after such an
error, jobs left running are queued again unless they already had their tries (a job that keeps
crashing the bot is failed, not retried for ever), and every finished job whose message does not
show its outcome yet is shown.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
from array import array
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING

from bot.queue.executor import EngineCrashed, Executor, Reporter
from bot.queue.fairness import round_robin
from bot.queue.files import JobFiles
from bot.queue.jobs import Job, JobState
from bot.queue.store import Store
from contract.describe import Description
from contract.errors import without_paths
from contract.protocol import TERMINAL, Cancelled, Event, Failed, Finished, Progress, batch_key
from contract.wire import MAX_MEMORY_GIB

if TYPE_CHECKING:
    from bot.usage.ledger import Ledger

log = logging.getLogger(__name__)

MAX_EMBEDDING = 4096  # numbers in a picture's image embedding (an ensemble's members' side by side)

MAX_ATTEMPTS = 2
FIRST_BACKOFF = 0.5
MAX_BACKOFF = 30.0


Concepts = Callable[[Job], Awaitable[Sequence[str]]]


async def no_concepts(job: Job) -> Sequence[str]:
    return ()


class Scheduler:
    def __init__(
        self, store: Store, engine: Executor, reporter: Reporter, files: JobFiles, concepts: Concepts = no_concepts,
        ledger: Ledger | None = None, ended: Callable[[Job, str], None] = lambda job, worker: None,
    ) -> None:  # fmt: skip
        self.store = store
        self.ended = ended  # told of every job that reached an end, with the worker that ran it ("": the local engine)
        self.ledger = ledger  # charged each job's engine time; orders the servers that chose least use
        self.concepts = concepts  # what the engine scores a job's pictures against (``contract/concepts.py``)
        self.engine = engine
        self.reporter = reporter
        self.files = files
        self.running: dict[str, Job] = {}  # job id -> the job, while it runs
        self.progress: dict[str, Progress] = {}  # job id -> its latest progress
        self._wake = asyncio.Event()
        self._cancelling: set[str] = set()
        self._tasks: set[asyncio.Task] = set()
        self._peaks: dict[str, tuple[float, str]] = {}  # job id -> its result's peak memory and worker, until charged
        self._trouble: Exception | None = None  # an error a job's task could not deal with, for ``run`` to recover from

    def wake(self) -> None:
        """A job was queued or ended, or a worker came or went: look at the queue again."""
        self._wake.set()

    async def order(self) -> list[Job]:
        """Waiting jobs in the order they will run (worked out off the event loop: the queue may be long)."""
        queued, last_started = await self.store.queued(), await self.store.last_started()
        order = await asyncio.to_thread(round_robin, queued, last_started)
        return order if self.ledger is None else await self.ledger.order(order)

    async def run(self) -> None:
        """Forever: take the next job in round-robin order and run it; no exception ends this loop."""
        delay, recovered = FIRST_BACKOFF, False
        while True:
            try:
                if not recovered:
                    await self.recover()
                    recovered = True
                await self._serve_next()
                if self._trouble is not None:
                    trouble, self._trouble = self._trouble, None
                    raise trouble
                delay = FIRST_BACKOFF
            except Exception:
                log.exception("the queue hit an error; it goes on in %.1fs", delay)
                recovered = False
                await asyncio.sleep(delay)
                delay = min(delay * 2, MAX_BACKOFF)

    async def recover(self) -> None:
        """Requeue what was left running (failing jobs that had their tries) and show every unshown outcome."""
        for job in await self.store.requeue_running(keep=set(self.running)):
            if job.attempts >= MAX_ATTEMPTS:
                log.error("job %s was running at %d starts or errors; it is failed, not run again", job.id, job.attempts)
                await self._fail(job, f"painting this stopped the bot {job.attempts} times, so it was not tried again", "")
            else:
                log.info("job %s was running when the bot stopped; it is queued again", job.id)
        for job in await self.store.unshown():
            await self._report(self._show_outcome(job))

    async def _show_outcome(self, job: Job) -> None:
        if job.state == JobState.DONE:
            png = await self.files.read(self.files.result(job.id))
            if png is not None:
                film = await self.files.read(self.files.animation(job.id)) if job.request.kind.posts_film else None
                described = await self.files.read_description(job.id) if job.request.describe else None
                await self.reporter.finished(job, png, film, description=described)
                return
            job = await self.store.finish(job.id, JobState.FAILED, error="the finished picture was lost before it was posted")
        if job.state == JobState.FAILED:
            await self.reporter.failed(job, job.error or "unknown", "")
        else:
            await self.reporter.cancelled(job)

    async def _serve_next(self) -> None:
        """Start the first job in order that the executor can take now (with the jobs that may share its
        batch), or wait until something changes."""
        self._wake.clear()  # before looking: a wake from here on is not lost
        order = await self.order()
        job = next((j for j in order if self.engine.can_take(j.id, j.request, len(self.running))), None)
        if job is None:
            await self._wake.wait()
            return
        claimed = [c for j in self._batch_of(job, order) if (c := await self.store.claim(j.id)) is not None]
        if not claimed:
            return  # cancelled while it waited
        for c in claimed:
            self.running[c.id] = c
        task = asyncio.create_task(self._serve(claimed), name=f"jobs {', '.join(c.id for c in claimed)}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _batch_of(self, head: Job, order: list[Job]) -> list[Job]:
        """``head`` and the jobs right behind it in order that share its ``batch_key``, up to the executor's
        limit. A job joins only in its own turn (the unbroken run behind the head), so no job is taken
        out of its round-robin turn, and the next member's job waits one batch at most."""
        limit, key = self.engine.batch_limit(), batch_key(head.request)
        batch = [head]
        for job in order[order.index(head) + 1 :]:
            if key is None or len(batch) >= limit or batch_key(job.request) != key:
                break
            batch.append(job)
        return batch

    async def _serve(self, jobs: list[Job]) -> None:
        try:
            await (self._run(jobs[0]) if len(jobs) == 1 else self._run_batch(jobs))
        except Exception as error:  # a bug here must cost its jobs, not the whole queue
            log.exception("jobs %s broke the scheduler; marking them failed", ", ".join(j.id for j in jobs))
            try:
                await self.engine.reset()
                for job in jobs:
                    current = await self.store.job(job.id)
                    if current is not None and current.state == JobState.RUNNING:
                        await self._fail(job, "the bot hit an internal error while running this job", "")
            except Exception:
                self._trouble = error  # the queue's loop backs off and recovers the jobs
        finally:
            for job in jobs:
                self._ended(job)
            await self._charge(jobs)
            self.wake()

    async def _charge(self, jobs: list[Job]) -> None:
        """Charge each job that ran its engine time, from its (last) start to its end, a batch's time shared by its
        jobs: done, failed or cancelled alike. A charge that cannot be written is logged; the queue goes on."""
        if self.ledger is None:
            return
        for job in jobs:
            try:
                ended = await self.store.job(job.id)
                peak, worker = self._peaks.pop(job.id, (0.0, ""))
                if ended is not None and ended.started is not None and ended.finished is not None:
                    seconds = max(0.0, ended.finished - ended.started) / len(jobs)
                    await self.ledger.charge(ended, seconds, ended.finished, peak, worker)
            except Exception:
                log.exception("job %s: its engine time could not be charged", job.id)

    def _ended(self, job: Job) -> None:
        self.running.pop(job.id, None)
        self.progress.pop(job.id, None)
        self._cancelling.discard(job.id)

    @staticmethod
    async def _report(report: Awaitable[None]) -> None:
        """A reporter that fails (Discord down, message gone) must not stop the queue."""
        try:
            await report
        except Exception:
            log.exception("reporting to Discord failed")

    async def _run(self, claimed: Job) -> None:
        """Attempts of one claimed job until it ends; a retry runs at once, ahead of the queue."""
        while True:
            self.running[claimed.id] = claimed
            self.progress.pop(claimed.id, None)
            await self._report(self.reporter.started(claimed))
            await self._report(self.reporter.queue_moved(await self.order()))
            if not await self._attempt(claimed):
                return
            claimed = await self._claim_again(claimed)
            if claimed is None:
                return  # cancelled in between

    async def _claim_again(self, job: Job) -> Job | None:
        await self.store.requeue(job.id)
        return await self.store.claim(job.id)

    async def _run_batch(self, jobs: list[Job]) -> None:
        """One batch on the engine; each job gets its own previews, result or cancel. A job worth another try
        gets it alone, at once, once the batch has ended."""
        for job in jobs:
            await self._report(self.reporter.started(job))
        await self._report(self.reporter.queue_moved(await self.order()))
        by_id = {job.id: job for job in jobs}
        again: list[Job] = []
        try:
            concepts = {job.id: await self.concepts(job) for job in jobs}
            async for event in self.engine.render_batch([(job.id, job.request) for job in jobs], concepts):
                job = by_id[event.job_id]
                if await self._handle(job, event):
                    again.append(job)
                elif isinstance(event, TERMINAL):
                    self._ended(job)
        except EngineCrashed as crash:
            await self.engine.reset()
            again += [j for j in jobs if j.id in self.running and j not in again and await self._after_crash(j, crash)]
        else:
            if again:
                await self.engine.reset()  # a sticky device error would fail the retries too
        for job in again:
            if (claimed := await self._claim_again(job)) is not None:
                await self._run(claimed)

    async def _attempt(self, job: Job) -> bool:
        """One run on the engine; True if the job should run once more."""
        try:
            async for event in self.engine.render(job.id, job.request, await self.concepts(job)):
                if await self._handle(job, event):
                    await self.engine.reset()  # a sticky device error would fail the retry too
                    return True
            return False
        except EngineCrashed as crash:
            await self.engine.reset()
            return await self._after_crash(job, crash)

    async def _handle(self, job: Job, event: Event) -> bool:
        """Report one event of ``job``; True when the job failed in a way worth one more try."""
        if isinstance(event, Progress):
            self.progress[job.id] = event
            await self._report(self.reporter.progress(job, event))
        elif isinstance(event, Finished):
            await self._finished(job, event)
        elif isinstance(event, Cancelled):
            await self._cancelled(job)
        elif isinstance(event, Failed):
            if event.retryable and job.attempts < MAX_ATTEMPTS and job.id not in self._cancelling:
                log.warning("job %s failed (%s); trying once more on a fresh engine", job.id, event.reason)
                return True
            await self._fail(job, event.reason, event.hint)
        return False

    async def _after_crash(self, job: Job, crash: EngineCrashed) -> bool:
        """The engine died during ``job``: True if it should run once more."""
        if job.id in self._cancelling:
            await self._cancelled(job)
            return False
        if job.attempts < MAX_ATTEMPTS:
            log.warning("the engine died during job %s (%s); restarting it and trying once more", job.id, crash)
            return True
        log.error("the engine died twice during job %s (%s)", job.id, crash)
        await self._fail(job, f"the engine stopped unexpectedly twice while painting this ({without_paths(str(crash))})", "")
        return False

    async def _finished(self, job: Job, event: Finished) -> None:
        """Keep the files, then mark the job done, then show it: a crash in between leaves it unshown, not lost."""
        if isinstance(event.peak_gib, (int, float)) and 0 <= event.peak_gib < MAX_MEMORY_GIB:  # a worker's figure
            self._peaks[job.id] = (float(event.peak_gib), event.worker)
        try:
            described = Description.from_dict(event.description) if job.request.describe else None
        except ValueError as error:  # every executor's results pass here: a remote worker's may be hostile
            log.error("job %s: a malformed description came back: %s", job.id, error)
            await self._fail(job, f"the description that came back was refused ({error})", "")
            return
        try:
            await self.files.write(self.files.result(job.id), event.png)
            if described is not None:
                await self.files.write(self.files.description(job.id), json.dumps(described.to_dict()).encode())
            if event.animation:
                await self.files.write(self.files.animation(job.id), event.animation)
            if event.svg:
                await self.files.write(self.files.svg(job.id), event.svg)
            for number, candidate in enumerate(event.candidates, 1):
                await self.files.write(self.files.candidate(job.id, number), candidate)
        except OSError as error:
            log.error("job %s: could not save its files: %s", job.id, error)
            await self._fail(job, f"the bot could not save the picture ({error.strerror or 'disk error'})", "")
            return
        if (vector := embedding(event.embedding)) is not None:
            await self.store.put_embedding(job.id, job.request.perceptor, vector)
        done = await self.store.finish(job.id, JobState.DONE, seconds=event.seconds)
        self.ended(done, event.worker)
        try:
            film = event.animation if job.request.kind.posts_film else None
            await self.reporter.finished(done, event.png, film, event.candidates, event.concepts, described)
        except Exception:  # the message must not go on saying "Painting"
            log.exception("could not post the result of job %s", job.id)
            reason = "the picture is done but could not be posted here; the bot's owner finds it in the job files"
            await self._report(self.reporter.failed(done, reason, ""))

    async def _cancelled(self, job: Job) -> None:
        cancelled = await self.store.finish(job.id, JobState.CANCELLED)
        self.ended(cancelled, "")
        await self._report(self.reporter.cancelled(cancelled))

    async def _fail(self, job: Job, reason: str, hint: str) -> None:
        failed = await self.store.finish(job.id, JobState.FAILED, error=reason)
        self.ended(failed, "")
        await self._report(self.reporter.failed(failed, reason, hint))

    async def cancel(self, job: Job) -> bool:
        """Cancel a waiting job at once, or ask the engine to stop a running one; False if it already ended."""
        if await self.store.cancel_if_queued(job.id):
            cancelled = await self.store.job(job.id)
            await self._report(self.reporter.cancelled(cancelled))
            await self._report(self.reporter.queue_moved(await self.order()))
            return True
        if job.id in self.running:
            self._cancelling.add(job.id)
            await self.engine.cancel(job.id)
            return True
        return False

    async def close(self) -> None:
        """Stop the jobs' tasks (their jobs stay running in the store, and are queued again at the next start)."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


def embedding(values: object) -> bytes | None:
    """A result's image embedding as float32 bytes for the gallery's likeness, or None when it is missing or not a
    list of 1 to ``MAX_EMBEDDING`` finite numbers (a worker's may be anything)."""
    if not isinstance(values, list) or not 1 <= len(values) <= MAX_EMBEDDING:
        return None
    if not all(type(v) in (int, float) and math.isfinite(v) for v in values):
        return None
    return array("f", values).tobytes()
