"""The bot's side of remote workers: it hands a job to JetStream only when a worker that can paint it
is free, and turns what the workers send back into the events the scheduler knows.

The scheduler keeps the order (SQLite, round robin) and asks ``can_take`` before it starts a job, so
at most as many jobs wait in the broker as there are free workers for them: the broker never
reorders the queue. Workers announce themselves every ``HEARTBEAT`` seconds; one not heard from for
``OFFLINE_AFTER`` seconds is gone. A job's started/finished/failed/cancelled events come through a
durable consumer, its progress and previews as plain messages, its picture through the object store.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

from nats.aio.msg import Msg
from nats.errors import TimeoutError as NatsTimeout
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from bot.config import QueueConfig
from bot.nats_link import Link, connect, persist
from contract.protocol import Cancelled, Event, Failed, Finished, RenderRequest, Started
from contract.wire import (
    BOT_CONSUMER,
    EVENTS_STREAM,
    OFFLINE_AFTER,
    WorkerInfo,
    subject,
)

log = logging.getLogger(__name__)

TERMINAL = (Finished, Failed, Cancelled)
STORED = "stored"  # an event kind on the wire only: the job's Finished event waits in the object store


@dataclass
class Seen:
    info: WorkerInfo
    at: float


@dataclass
class _Job:
    request: RenderRequest
    events: asyncio.Queue[Event] = field(default_factory=asyncio.Queue)
    started: bool = False
    cancelled: bool = False


class Dispatcher:
    """Runs jobs on remote workers; the scheduler's executor when ``[queue] url`` is set."""

    def __init__(self, config: QueueConfig, on_change: Callable[[], None] = lambda: None) -> None:
        self.config = config
        self.on_change = on_change  # a worker came, went, or became free: the scheduler looks again
        self.link: Link | None = None
        self.workers: dict[str, Seen] = {}
        self._jobs: dict[str, _Job] = {}
        self._tasks: list[asyncio.Task] = []

    async def start(self) -> None:
        self.link = await connect(self.config, "dreambot-bot")
        client = self.link.client
        await client.subscribe("dreambot.workers.*", cb=self._on_worker)
        await client.subscribe("dreambot.progress.*", cb=self._on_progress)
        events = await self.link.jetstream.pull_subscribe(
            "dreambot.events.>",
            durable=BOT_CONSUMER,
            stream=EVENTS_STREAM,
            config=ConsumerConfig(ack_policy=AckPolicy.EXPLICIT, deliver_policy=DeliverPolicy.ALL),
        )
        self._tasks = [
            asyncio.create_task(self._read_events(events), name="worker events"),
            asyncio.create_task(self._expire_workers(), name="worker expiry"),
        ]

    def online(self) -> list[WorkerInfo]:
        now = asyncio.get_running_loop().time()
        return [seen.info for seen in self.workers.values() if now - seen.at <= OFFLINE_AFTER]

    def can_take(self, request: RenderRequest, running: int) -> bool:
        """A free online worker can paint it, beyond those that jobs handed out and not yet started will take."""
        free = [w for w in self.painters_of(request) if w.job_id is None]
        waiting = running - sum(1 for job in self._jobs.values() if job.started)  # handed out (or about to be), not started
        return len(free) > waiting

    def painters_of(self, request: RenderRequest) -> list[WorkerInfo]:
        """The online workers that could paint ``request``, busy or not (``/queue`` says when there are none)."""
        return [w for w in self.online() if w.can_paint(request.model, request.width, request.height)]

    async def render(self, job_id: str, request: RenderRequest) -> AsyncIterator[Event]:
        """Hand the job to JetStream and yield its events up to the final one."""
        assert self.link is not None, "start() first"
        job = self._jobs[job_id] = _Job(request)
        try:
            payload = json.dumps({"job_id": job_id, "request": request.to_dict()}).encode()
            jetstream = self.link.jetstream
            await persist(f"handing out job {job_id}", lambda: jetstream.publish(subject("jobs", request.model), payload))
            while True:
                event = await job.events.get()
                yield event
                if isinstance(event, TERMINAL):
                    return
        finally:
            del self._jobs[job_id]
            self.on_change()

    async def cancel(self, job_id: str) -> None:
        """Tell the worker running it; a job not started yet is told again as soon as it starts."""
        if (job := self._jobs.get(job_id)) is not None:
            job.cancelled = True
        if self.link is not None:
            await self.link.client.publish(subject("cancel", job_id), b"")

    async def reset(self) -> None:
        """Nothing to restart here: a retry goes to whichever worker is free."""

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self.link is not None:
            await self.link.close()
            self.link = None

    async def _on_worker(self, msg: Msg) -> None:
        try:
            info = WorkerInfo.from_dict(json.loads(msg.data))
        except (ValueError, KeyError, TypeError) as error:
            log.warning("ignoring a malformed worker announcement (%s)", error)
            return
        before = self.workers.get(info.worker_id)
        self.workers[info.worker_id] = Seen(info, asyncio.get_running_loop().time())
        if before is None:
            log.info("worker %s is online (%s; %s)", info.worker_id, info.device, ", ".join(info.models))
        if before is None or before.info.job_id != info.job_id:
            self.on_change()

    async def _expire_workers(self) -> None:
        while True:
            await asyncio.sleep(OFFLINE_AFTER / 2)
            online = {w.worker_id for w in self.online()}
            for worker_id in [w for w in self.workers if w not in online]:
                log.warning("worker %s went silent; it is taken as gone", worker_id)
                del self.workers[worker_id]

    async def _on_progress(self, msg: Msg) -> None:
        try:
            event = Event.from_dict(json.loads(msg.data))
        except (ValueError, KeyError, TypeError) as error:
            log.warning("ignoring a malformed progress message (%s)", error)
            return
        if (job := self._jobs.get(event.job_id)) is not None and job.started:
            job.events.put_nowait(event)

    async def _read_events(self, subscription) -> None:
        """Route each job event to its job; acknowledge it only once it is routed (or belongs to no job here)."""
        while True:
            try:
                messages = await subscription.fetch(16, timeout=1.0)
            except NatsTimeout:
                continue
            except Exception as error:  # a reconnect in progress: try again shortly
                log.debug("reading worker events: %s", error)
                await asyncio.sleep(0.5)
                continue
            for msg in messages:
                try:
                    await self._route(json.loads(msg.data))
                except Exception:
                    log.exception("could not read a worker event")
                await msg.ack()

    async def _route(self, data: dict) -> None:
        job = self._jobs.get(data.get("job_id", ""))
        if job is None:
            log.info("an event for job %r, which no longer waits for one, is dropped", data.get("job_id"))
            return
        if data.get("kind") == STORED:
            assert self.link is not None
            stored = await self.link.results.get(data["job_id"])
            event = Event.from_dict(json.loads(stored.data))
            await self.link.results.delete(data["job_id"])
        else:
            event = Event.from_dict(data)
        if isinstance(event, Started):
            job.started = True
            if job.cancelled:
                await self.cancel(event.job_id)
        job.events.put_nowait(event)
