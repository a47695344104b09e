"""What the scheduler needs from the rest of the bot: an executor that runs jobs (the local engine or the
remote workers, and any new transport: one module implementing ``Executor``) and a reporter that shows
what happens to them (Discord, or a recorder in the tests)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Protocol

from bot.queue.jobs import Job
from contract.describe import Description
from contract.protocol import Event, Progress, RenderRequest


class EngineCrashed(Exception):
    """The engine process exited, hung, or could not be started while a job was in flight."""


class Reporter(Protocol):
    async def queued(self, job: Job, position: int) -> None:
        """A new job waits; ``position``: its place in line (1: next)."""

    async def started(self, job: Job) -> None: ...

    async def progress(self, job: Job, event: Progress) -> None: ...

    async def finished(
        self, job: Job, png: bytes, film: bytes | None = None, candidates: Sequence[bytes] = (), scores: object = None,
        description: Description | None = None,
    ) -> None:  # fmt: skip
        """The picture is done; ``film``: the MP4 of a zoom or a story, posted with it; ``candidates``: a set's
        pictures, each on its own (``png`` is their grid); ``scores``: the engine's concept scores, as it sent them
        (None: not scored, a result shown after a restart); ``description``: a /describe's words (``png``: its picture)."""

    async def failed(self, job: Job, reason: str, hint: str) -> None: ...

    async def cancelled(self, job: Job) -> None: ...

    async def queue_moved(self, order: list[Job]) -> None:
        """The waiting jobs' positions changed (a job started, was added or cancelled)."""


class Executor(Protocol):
    """Where jobs run: ``EngineSupervisor`` in ``bot/executors/local.py`` (this machine) or ``Dispatcher`` in
    ``bot/executors/nats/dispatch.py`` (remote workers). A new transport is one module implementing this."""

    def can_take(self, job_id: str, request: RenderRequest, running: int) -> bool:
        """Whether job ``job_id`` for ``request`` could start now, with ``running`` jobs already running."""

    def render(self, job_id: str, request: RenderRequest, concepts: Sequence[str] = ()) -> AsyncIterator[Event]:
        """Run one job; its previews and result come scored against ``concepts`` (``contract/concepts.py``)."""

    def memories(self) -> list[float]:
        """GiB of memory of each place a job may run (the local engine's device, each online worker's), as they
        said; empty while none has: admission refuses a job whose predicted peak fits none of them."""

    def batch_limit(self) -> int:
        """How many jobs that share a ``batch_key`` may run as one batch (1: one job at a time)."""

    def render_batch(
        self, jobs: Sequence[tuple[str, RenderRequest]], concepts: Mapping[str, Sequence[str]] | None = None
    ) -> AsyncIterator[Event]:
        """Run jobs as one batch and yield every job's events up to each one's final (scored against each job's
        ``concepts``); called only when ``batch_limit()`` is above 1."""

    async def cancel(self, job_id: str) -> None: ...

    async def reset(self) -> None:
        """Before a retry: drop anything a failed attempt may have left broken (a local engine is restarted)."""

    async def stop(self) -> None: ...
