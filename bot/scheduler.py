"""Runs queued jobs on the engine one at a time, in round-robin order, and tells a reporter.

The scheduler knows nothing of Discord: the reporter (``bot/reporter.py``) turns what happens into
messages. A job whose engine dies or fails in a way worth retrying is retried once on a fresh engine,
then reported failed. Nothing stops the queue: an error outside a job (a locked database, a full
disk) is logged and the loop tries again after a pause that doubles up to ``MAX_BACKOFF``. At start,
and after such an error, jobs left running are queued again unless they already had their tries
(a job that keeps crashing the bot is failed, not retried for ever), and every finished job whose
message does not show its outcome yet is shown.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from typing import Protocol

from bot.fairness import round_robin
from bot.files import JobFiles
from bot.jobs import Job, JobState
from bot.store import Store
from bot.supervisor import EngineCrashed, EngineSupervisor
from contract.errors import without_paths
from contract.protocol import Cancelled, Failed, Finished, Progress

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 2
FIRST_BACKOFF = 0.5
MAX_BACKOFF = 30.0


class Reporter(Protocol):
    async def started(self, job: Job) -> None: ...

    async def progress(self, job: Job, event: Progress) -> None: ...

    async def finished(self, job: Job, png: bytes) -> None: ...

    async def failed(self, job: Job, reason: str, hint: str) -> None: ...

    async def cancelled(self, job: Job) -> None: ...

    async def queue_moved(self, order: list[Job]) -> None:
        """The waiting jobs' positions changed (a job started, was added or cancelled)."""


class Scheduler:
    def __init__(self, store: Store, supervisor: EngineSupervisor, reporter: Reporter, files: JobFiles) -> None:
        self.store = store
        self.supervisor = supervisor
        self.reporter = reporter
        self.files = files
        self.current: Job | None = None
        self.last_progress: Progress | None = None
        self._wake = asyncio.Event()
        self._cancelling: set[str] = set()

    def wake(self) -> None:
        """A job was queued: look at the queue again."""
        self._wake.set()

    async def order(self) -> list[Job]:
        """Waiting jobs in the order they will run (worked out off the event loop: the queue may be long)."""
        queued, last_started = await self.store.queued(), await self.store.last_started()
        return await asyncio.to_thread(round_robin, queued, last_started)

    async def run(self) -> None:
        """Forever: take the next job in round-robin order and run it; no exception ends this loop."""
        delay, recovered = FIRST_BACKOFF, False
        while True:
            try:
                if not recovered:
                    await self.recover()
                    recovered = True
                await self._serve_next()
                delay = FIRST_BACKOFF
            except Exception:
                log.exception("the queue hit an error; it goes on in %.1fs", delay)
                recovered = False
                await asyncio.sleep(delay)
                delay = min(delay * 2, MAX_BACKOFF)

    async def recover(self) -> None:
        """Requeue what was left running (failing jobs that had their tries) and show every unshown outcome."""
        for job in await self.store.requeue_running():
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
                await self.reporter.finished(job, png)
                return
            job = await self.store.finish(job.id, JobState.FAILED, error="the finished picture was lost before it was posted")
        if job.state == JobState.FAILED:
            await self.reporter.failed(job, job.error or "unknown", "")
        else:
            await self.reporter.cancelled(job)

    async def _serve_next(self) -> None:
        order = await self.order()
        if not order:
            self._wake.clear()
            await self._wake.wait()
            return
        job = order[0]
        try:
            await self._run(job)
        except Exception:  # a bug here must cost one job, not the whole queue
            log.exception("job %s broke the scheduler; marking it failed", job.id)
            await self.supervisor.stop()
            await self._fail(job, "the bot hit an internal error while running this job", "")

    @staticmethod
    async def _report(report: Awaitable[None]) -> None:
        """A reporter that fails (Discord down, message gone) must not stop the queue."""
        try:
            await report
        except Exception:
            log.exception("reporting to Discord failed")

    async def _run(self, job: Job) -> None:
        while True:
            claimed = await self.store.claim(job.id)
            if claimed is None:
                return  # cancelled while it waited
            self.current, self.last_progress = claimed, None
            await self._report(self.reporter.started(claimed))
            await self._report(self.reporter.queue_moved(await self.order()))
            try:
                retry = await self._attempt(claimed)
            finally:
                self.current = None
            if not retry:
                self._cancelling.discard(job.id)
                return
            await self.store.requeue(job.id)

    async def _attempt(self, job: Job) -> bool:
        """One run on the engine; True if the job should run once more."""
        try:
            async for event in self.supervisor.render(job.id, job.request):
                if isinstance(event, Progress):
                    self.last_progress = event
                    await self._report(self.reporter.progress(job, event))
                elif isinstance(event, Finished):
                    await self._finished(job, event)
                elif isinstance(event, Cancelled):
                    await self._cancelled(job)
                elif isinstance(event, Failed):
                    if event.retryable and job.attempts < MAX_ATTEMPTS and job.id not in self._cancelling:
                        log.warning("job %s failed (%s); trying once more on a fresh engine", job.id, event.reason)
                        await self.supervisor.stop()  # a sticky device error would fail the retry too
                        return True
                    await self._fail(job, event.reason, event.hint)
            return False
        except EngineCrashed as crash:
            await self.supervisor.stop()
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
        try:
            await self.files.write(self.files.result(job.id), event.png)
            if event.animation:
                await self.files.write(self.files.animation(job.id), event.animation)
        except OSError as error:
            log.error("job %s: could not save its files: %s", job.id, error)
            await self._fail(job, f"the bot could not save the picture ({error.strerror or 'disk error'})", "")
            return
        done = await self.store.finish(job.id, JobState.DONE, seconds=event.seconds)
        try:
            await self.reporter.finished(done, event.png)
        except Exception:  # the message must not go on saying "Painting"
            log.exception("could not post the result of job %s", job.id)
            reason = "the picture is done but could not be posted here; the bot's owner finds it in the job files"
            await self._report(self.reporter.failed(done, reason, ""))

    async def _cancelled(self, job: Job) -> None:
        await self._report(self.reporter.cancelled(await self.store.finish(job.id, JobState.CANCELLED)))

    async def _fail(self, job: Job, reason: str, hint: str) -> None:
        failed = await self.store.finish(job.id, JobState.FAILED, error=reason)
        await self._report(self.reporter.failed(failed, reason, hint))

    async def cancel(self, job: Job) -> bool:
        """Cancel a waiting job at once, or ask the engine to stop a running one; False if it already ended."""
        if await self.store.cancel_if_queued(job.id):
            cancelled = await self.store.job(job.id)
            await self._report(self.reporter.cancelled(cancelled))
            await self._report(self.reporter.queue_moved(await self.order()))
            return True
        if self.current is not None and self.current.id == job.id:
            self._cancelling.add(job.id)
            await self.supervisor.cancel(job.id)
            return True
        return False
