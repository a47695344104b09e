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

Nothing a worker sends is taken on trust. Its id is in the subject (the server lets only its credential
publish there): a job's events count only from the worker that holds it (the first to speak of it, until it
stops announcing the job and another speaks of it), progress only as progress, a finished picture only within
bounds of bytes and pixels, checked before it is read or decoded. A job no worker reports on for
``stall_timeout`` seconds ends with a reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from nats.aio.msg import Msg
from nats.errors import TimeoutError as NatsTimeout
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import NotFoundError

from bot.admission.attachments import png_size
from bot.config import QueueConfig
from bot.executors.nats.link import Link, connect, persist
from contract.costs import predict
from contract.limits import MAX_UPSCALE_SIDE, STALL_TIMEOUT, UPSCALE
from contract.protocol import TERMINAL, Event, Failed, Finished, Progress, RenderRequest, Started
from contract.registry import lookup
from contract.wire import (
    BOT_CONSUMER,
    EVENTS_STREAM,
    HEARTBEAT,
    JOBS_STREAM,
    OFFLINE_AFTER,
    STORED,
    WorkerInfo,
    from_worker,
    input_key,
    inputs,
    job_subject,
    subject,
    token,
)

log = logging.getLogger(__name__)

EARLY_KEEP = 3600.0  # seconds the events of a job nobody waits for are kept, for the bot's restart to pick up
HOLDER_SILENCE = 1.5 * HEARTBEAT  # seconds after its last announcement that a job's worker is taken as gone from it
EARLY_EVENTS = 1000  # events kept for jobs nobody waits for, at most (each within the stream's 64 KiB a message)
RESULT_BYTES = 128 * 2**20  # a finished job's event as a worker stored it: pictures, candidates and film


def largest_side(request: RenderRequest) -> int:
    """The longest side a finished picture of ``request`` may have: a worker's PNG beyond it is not decoded."""
    if request.is_upscale:
        return MAX_UPSCALE_SIDE * UPSCALE
    side = max(request.width, request.height, lookup(request.model).native_size or 0)
    return side * 2 if request.count > 1 else side  # a set's grid is two pictures across


@dataclass
class Seen:
    info: WorkerInfo
    at: float


@dataclass
class _Job:
    request: RenderRequest
    heard: float  # when a worker last spoke of it (an event, or an announcement naming it)
    events: asyncio.Queue[Event] = field(default_factory=asyncio.Queue)
    started: bool = False
    cancelled: bool = False
    worker: str | None = None  # the worker (its subject token) whose events count: the one that holds the job


class Dispatcher:
    """Runs jobs on remote workers; the scheduler's executor when ``[queue] url`` is set."""

    def __init__(
        self, config: QueueConfig, on_change: Callable[[], None] = lambda: None, stall_timeout: float = STALL_TIMEOUT
    ) -> None:
        self.config = config
        self.stall_timeout = stall_timeout  # seconds a job may go unmentioned by any worker before it fails
        self.on_change = on_change  # a worker came, went, or became free: the scheduler looks again
        self.link: Link | None = None
        self.workers: dict[str, Seen] = {}
        self._jobs: dict[str, _Job] = {}
        self._early: dict[str, list[tuple[float, str, dict]]] = {}  # job id -> (arrival, worker, event), nobody waiting
        self._dropped: set[tuple[str, str]] = set()  # (worker, job) whose events were dropped: logged once
        self._tasks: list[asyncio.Task] = []

    async def start(self) -> None:
        self.link = await connect(self.config, "dreambot-bot")
        client = self.link.client
        await client.subscribe("dreambot.workers.*", cb=self._on_worker)
        await client.subscribe("dreambot.progress.*.*", cb=self._on_progress)
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

    def reachable(self) -> bool:
        """Whether the bot is connected to the NATS server (``GET /healthz``)."""
        return self.link is not None and self.link.client.is_connected

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
        """The online workers that could paint ``request``, busy or not, with the memory its predicted peak needs
        where they said how much they have (``/queue`` says when there are none)."""
        memory = predict(request).memory_gib
        return [w for w in self.online() if w.can_paint(request.model, request.width, request.height, memory)]

    def memories(self) -> list[float]:
        """GiB of memory of each online worker that said, for admission (a job none can hold is refused)."""
        return [w.memory_gib for w in self.online() if w.memory_gib]

    def batch_limit(self) -> int:
        """One job per worker at a time: a worker's engine runs what it is handed alone."""
        return 1

    async def render(self, job_id: str, request: RenderRequest, concepts: Sequence[str] = ()) -> AsyncIterator[Event]:
        """Hand the job to JetStream (unless a bot before a restart did) and yield its events up to the final one."""
        assert self.link is not None, "start() first"
        job = self._jobs[job_id] = _Job(request, asyncio.get_running_loop().time())
        try:
            early = [await self._deliver(job_id, job, worker, data) for _, worker, data in self._early.pop(job_id, [])]
            ended = any(isinstance(event, TERMINAL) for event in early)
            if not ended and not await self._handed_out(job_id, request.model):
                await self._put_inputs(job_id, request)
                payload = json.dumps({"job_id": job_id, "request": request.to_dict(), "concepts": list(concepts)}).encode()
                jetstream, to = self.link.jetstream, job_subject(request.model, job_id)
                await persist(f"handing out job {job_id}", lambda: jetstream.publish(to, payload))
            while True:
                event = await self._next_event(job_id, job)
                yield event
                if isinstance(event, TERMINAL):
                    return
        finally:
            del self._jobs[job_id]
            await self._drop_inputs(job_id, request)
            self.on_change()

    async def _next_event(self, job_id: str, job: _Job) -> Event:
        """The job's next event; a Failed once no worker has spoken of it for ``stall_timeout`` seconds (its worker
        vanished, or every worker did while it waited), and its message taken back so that no one paints it late."""
        loop = asyncio.get_running_loop()
        while True:
            silent_for = loop.time() - job.heard
            try:
                return await asyncio.wait_for(job.events.get(), timeout=max(self.stall_timeout - silent_for, 0.0) + 0.1)
            except TimeoutError:
                if loop.time() - job.heard < self.stall_timeout:
                    continue  # a worker announced it meanwhile
            await self._take_back(job_id, job.request.model)
            reason = f"no worker reported on this job for {self.stall_timeout:.0f} s; the workers may be down"
            return Failed(job_id, reason, "ask again once the bot's owner has a worker running")

    async def _take_back(self, job_id: str, model: str) -> None:
        assert self.link is not None
        with contextlib.suppress(Exception):  # gone already, or the server is away: a late worker's events find no one
            message = await self.link.jetstream.get_last_msg(JOBS_STREAM, job_subject(model, job_id))
            await self.link.jetstream.delete_msg(JOBS_STREAM, message.seq)

    async def _drop_inputs(self, job_id: str, request: RenderRequest) -> None:
        """The job's pictures leave the object store with the job (workers may only read them)."""
        assert self.link is not None
        for number in range(len(inputs(request))):
            with contextlib.suppress(Exception):
                await self.link.inputs.delete(input_key(job_id, number))

    async def _put_inputs(self, job_id: str, request: RenderRequest) -> None:
        """The pictures the job names on this disk, into the object store for whichever worker takes it."""
        assert self.link is not None
        bucket = self.link.inputs
        for number, path in enumerate(inputs(request)):
            data = await asyncio.to_thread(Path(path).read_bytes)
            key = input_key(job_id, number)
            await persist(f"storing job {job_id}'s input", lambda key=key, data=data: bucket.put(key, data))

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
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            log.warning("ignoring a malformed worker announcement (%s)", error)
            return
        if token(info.worker_id) != (speaker := msg.subject.rsplit(".", 1)[-1]):
            self._drop(speaker, info.worker_id, "an announcement under another worker's name")
            return
        now = asyncio.get_running_loop().time()
        if info.job_id is not None and (job := self._jobs.get(info.job_id)) is not None:
            job.heard = now
            self._started(job)  # a worker holds it: no free worker is promised to it any more
        before = self.workers.get(info.worker_id)
        self.workers[info.worker_id] = Seen(info, now)
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
                for _, worker, data in self._early.pop(job_id):
                    if data.get("kind") == STORED and self.link is not None:
                        with contextlib.suppress(Exception):
                            await (await self.link.results_of(worker)).delete(job_id)

    async def _on_progress(self, msg: Msg) -> None:
        if (where := from_worker("progress", msg.subject)) is None:
            return
        worker, job_id = where
        try:
            event = Event.from_dict(json.loads(msg.data))
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            log.warning("ignoring a malformed progress message (%s)", error)
            return
        if not isinstance(event, Progress) or event.job_id != job_id:
            self._drop(worker, job_id, f"a {event.kind} event on the progress subject of job {job_id}")
            return
        if (job := self._jobs.get(job_id)) is not None and self._claimed(job_id, job, worker, event.kind):
            self._started(job)  # its worker paints it, whether or not its Started came yet
            job.events.put_nowait(event)

    def _started(self, job: _Job) -> None:
        """A worker holds ``job``: the scheduler looks again, as a free worker may be waiting for the next job."""
        if not job.started:
            job.started = True
            self.on_change()

    def _claimed(self, job_id: str, job: _Job, worker: str, kind: str) -> bool:
        """Whether ``worker`` holds the job: the first to speak of it does, until it stops announcing the job (it
        missed a heartbeat: killed or hung, its claim lapses and JetStream hands the job on to whoever speaks next)."""
        if job.worker not in (None, worker) and self._announces(job.worker, job_id):
            self._drop(worker, job_id, f"a {kind} event for job {job_id}, which worker {job.worker} holds")
            return False
        if job.worker not in (None, worker):
            log.warning("job %s: worker %s took it over from worker %s, who went silent", job_id, worker, job.worker)
        job.worker = worker
        job.heard = asyncio.get_running_loop().time()
        return True

    def _announces(self, worker: str, job_id: str) -> bool:
        """Whether ``worker`` (a subject token) said within a heartbeat and a half that it paints ``job_id``."""
        now = asyncio.get_running_loop().time()
        return any(
            token(seen.info.worker_id) == worker and seen.info.job_id == job_id and now - seen.at <= HOLDER_SILENCE
            for seen in self.workers.values()
        )

    def _drop(self, worker: str, job_id: str, what: str) -> None:
        if (worker, job_id) not in self._dropped:
            self._dropped.add((worker, job_id))
            log.warning("dropped %s from worker %s", what, worker)

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
                    if (where := from_worker("events", msg.subject)) is not None:
                        await self._route(*where, json.loads(msg.data))
                except Exception:
                    log.exception("could not read a worker event")
                await msg.ack()

    async def _route(self, worker: str, job_id: str, data: dict) -> None:
        if not isinstance(data, dict) or data.get("job_id") != job_id:
            self._drop(worker, job_id, f"an event naming another job than its subject's ({job_id})")
        elif (job := self._jobs.get(job_id)) is not None:
            await self._deliver(job_id, job, worker, data)
        elif sum(len(kept) for kept in self._early.values()) >= EARLY_EVENTS:
            self._drop(worker, job_id, f"a {data.get('kind')} event for job {job_id}, unknown here, over the {EARLY_EVENTS} kept")
        else:
            log.info("job %s: a %s event came while no one waits for it; kept for a restarted bot", job_id, data.get("kind"))
            self._early.setdefault(job_id, []).append((asyncio.get_running_loop().time(), worker, data))

    async def _deliver(self, job_id: str, job: _Job, worker: str, data: dict) -> Event | None:
        """Turn one event off the wire into the job's event, fetching a finished picture from the worker's bucket;
        None when it is not the job holder's to send."""
        if data.get("kind") == STORED:
            if not self._claimed(job_id, job, worker, STORED):
                return None
            event = await self._stored(job_id, job.request, worker)
        else:
            event = Event.from_dict(data)
            if event.job_id != job_id or not self._claimed(job_id, job, worker, event.kind):
                return None
        if isinstance(event, Started):
            self._started(job)
            if job.cancelled:
                await self.cancel(event.job_id)
        job.events.put_nowait(event)
        return event

    async def _stored(self, job_id: str, request: RenderRequest, worker: str) -> Event:
        """A worker's finished job from its own bucket, read only within ``RESULT_BYTES`` and its pictures' sides
        checked against the request before anything decodes them."""
        assert self.link is not None
        bucket = await self.link.results_of(worker)
        try:
            size = (await bucket.get_info(job_id)).size or 0
            if size > RESULT_BYTES:
                return self._refused(job_id, worker, f"a result of {size / 2**20:.0f} MiB (at most {RESULT_BYTES // 2**20})")
            event = Event.from_dict(json.loads((await bucket.get(job_id)).data))
        except NotFoundError:
            reason = f"worker {worker} said the picture was stored, but it is not there"
            return Failed(job_id, reason, "", retryable=True)
        finally:
            with contextlib.suppress(Exception):
                await bucket.delete(job_id)
        if not isinstance(event, Finished) or event.job_id != job_id:
            return self._refused(job_id, worker, f"a stored {event.kind} event for job {event.job_id}")
        event = dataclasses.replace(event, worker=worker)  # who painted it is what the bot heard, not what it says
        bound = largest_side(request)
        for picture in (event.png, *event.candidates):
            try:
                width, height = png_size(picture)
            except ValueError:
                return self._refused(job_id, worker, "a result that is not a PNG")
            if max(width, height) > bound:
                return self._refused(job_id, worker, f"a {width}x{height} picture for a job of at most {bound} pixels a side")
        return event

    def _refused(self, job_id: str, worker: str, what: str) -> Failed:
        log.warning("job %s: worker %s sent %s; refused", job_id, worker, what)
        return Failed(job_id, f"worker {worker} sent {what}, which the bot refused", "")
