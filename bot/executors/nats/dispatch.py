"""The bot's side of remote workers: it hands a job to JetStream only when a worker that can paint it
is free, and turns what the workers send back into the events the scheduler knows.

The scheduler keeps the order (SQLite, round robin) and asks ``can_take`` before it starts a job, so
at most as many jobs wait in the broker as there are free workers for them: the broker never
reorders the queue. Workers announce themselves every ``HEARTBEAT`` seconds; one not heard from for
``OFFLINE_AFTER`` seconds is gone. A job's started/finished/failed/cancelled events come through a
durable consumer, its progress and previews as plain messages, its picture through the object store.

A restarted bot queues the jobs it was running again and renders them once more; the dispatcher then
hands a job out again only if it neither waits in JetStream nor has an outcome already: events that
come for a job nobody waits for are kept for ``EARLY_KEEP`` seconds, so the first outcome is the one
posted and a job is never painted twice for a restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path

from nats.aio.msg import Msg
from nats.errors import TimeoutError as NatsTimeout
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import NotFoundError

from bot.config import QueueConfig
from bot.executors.nats.link import Link, connect, persist
from contract.protocol import TERMINAL, Event, RenderRequest, Started
from contract.wire import (
    BOT_CONSUMER,
    EVENTS_STREAM,
    JOBS_STREAM,
    OFFLINE_AFTER,
    STORED,
    WorkerInfo,
    input_key,
    inputs,
    job_subject,
    subject,
)

log = logging.getLogger(__name__)

EARLY_KEEP = 3600.0  # seconds the events of a job nobody waits for are kept, for the bot's restart to pick up


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
        self._early: dict[str, list[tuple[float, dict]]] = {}  # job id -> (arrival, event) for jobs nobody waits for
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
            asyncio.create_task(self._tidy(), name="worker expiry"),
        ]

    def online(self) -> list[WorkerInfo]:
        now = asyncio.get_running_loop().time()
        return [seen.info for seen in self.workers.values() if now - seen.at <= OFFLINE_AFTER]

    def can_take(self, job_id: str, request: RenderRequest, running: int) -> bool:
        """A worker paints it already (the bot restarted), or a free online worker can paint it beyond those
        that jobs handed out and not yet started will take."""
        if any(w.job_id == job_id for w in self.online()):
            return True
        free = [w for w in self.painters_of(request) if w.job_id is None]
        waiting = running - sum(1 for job in self._jobs.values() if job.started)  # handed out (or about to be), not started
        return len(free) > waiting

    def painters_of(self, request: RenderRequest) -> list[WorkerInfo]:
        """The online workers that could paint ``request``, busy or not (``/queue`` says when there are none)."""
        return [w for w in self.online() if w.can_paint(request.model, request.width, request.height)]

    def batch_limit(self) -> int:
        """One job per worker at a time: a worker's engine runs what it is handed alone."""
        return 1

    async def render(self, job_id: str, request: RenderRequest) -> AsyncIterator[Event]:
        """Hand the job to JetStream (unless a bot before a restart did) and yield its events up to the final one."""
        assert self.link is not None, "start() first"
        job = self._jobs[job_id] = _Job(request)
        try:
            early = [await self._deliver(job, data) for _, data in self._early.pop(job_id, [])]
            ended = any(isinstance(event, TERMINAL) for event in early)
            if not ended and not await self._handed_out(job_id, request.model):
                await self._put_inputs(job_id, request)
                payload = json.dumps({"job_id": job_id, "request": request.to_dict()}).encode()
                jetstream, to = self.link.jetstream, job_subject(request.model, job_id)
                await persist(f"handing out job {job_id}", lambda: jetstream.publish(to, payload))
            while True:
                event = await job.events.get()
                yield event
                if isinstance(event, TERMINAL):
                    return
        finally:
            del self._jobs[job_id]
            self.on_change()

    async def _put_inputs(self, job_id: str, request: RenderRequest) -> None:
        """The pictures the job names on this disk, into the object store for whichever worker takes it."""
        assert self.link is not None
        results = self.link.results
        for number, path in enumerate(inputs(request)):
            data = await asyncio.to_thread(Path(path).read_bytes)
            key = input_key(job_id, number)
            await persist(f"storing job {job_id}'s input", lambda key=key, data=data: results.put(key, data))

    async def _handed_out(self, job_id: str, model: str) -> bool:
        """Whether the job waits in JetStream or a worker holds it (its message goes only when a worker is done)."""
        assert self.link is not None
        jetstream, at = self.link.jetstream, job_subject(model, job_id)

        async def look() -> bool:
            try:
                await jetstream.get_last_msg(JOBS_STREAM, at)
            except NotFoundError:
                return False
            return True

        return await persist(f"looking for job {job_id} in the queue", look)

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

    async def _tidy(self) -> None:
        """Forget silent workers, and the early events (and stored pictures) of jobs nobody came back for."""
        while True:
            await asyncio.sleep(OFFLINE_AFTER / 2)
            online = {w.worker_id for w in self.online()}
            for worker_id in [w for w in self.workers if w not in online]:
                log.warning("worker %s went silent; it is taken as gone", worker_id)
                del self.workers[worker_id]
            now = asyncio.get_running_loop().time()
            for job_id in [j for j, kept in self._early.items() if now - kept[0][0] > EARLY_KEEP]:
                if any(data.get("kind") == STORED for _, data in self._early.pop(job_id)) and self.link is not None:
                    with contextlib.suppress(Exception):
                        await self.link.results.delete(job_id)

    async def _on_progress(self, msg: Msg) -> None:
        try:
            event = Event.from_dict(json.loads(msg.data))
        except (ValueError, KeyError, TypeError) as error:
            log.warning("ignoring a malformed progress message (%s)", error)
            return
        if (job := self._jobs.get(event.job_id)) is not None:
            job.started = True  # its worker paints it, whether or not its Started came yet
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
        job_id = str(data.get("job_id", ""))
        if (job := self._jobs.get(job_id)) is None:
            log.info("job %s: a %s event came while no one waits for it; kept for a restarted bot", job_id, data.get("kind"))
            self._early.setdefault(job_id, []).append((asyncio.get_running_loop().time(), data))
            return
        await self._deliver(job, data)

    async def _deliver(self, job: _Job, data: dict) -> Event:
        """Turn one event off the wire into the job's event, fetching a finished picture from the object store."""
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
        return event
