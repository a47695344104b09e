"""``dreambot worker``: one GPU machine's engine, taking jobs from NATS JetStream.

It connects out (no inbound port), runs the same engine process under the same supervision as the
bot's own, and pulls jobs only for the models whose weights it holds, one at a time. While a job runs
it renews its claim; if it dies or hangs, the claim lapses after ``[queue] claim_timeout`` seconds and
JetStream hands the job to the next worker that asks. It never sees the Discord token and never talks
to Discord: events go back on NATS, the finished picture through the object store.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import shutil
import signal
import socket
import tempfile
from pathlib import Path

from nats.aio.msg import Msg
from nats.errors import NoServersError
from nats.errors import TimeoutError as NatsTimeout
from nats.js.api import AckPolicy, ConsumerConfig
from nats.js.errors import NotFoundError

from bot.config import Config, ConfigError
from bot.executors.local import EngineSupervisor
from bot.executors.nats.access import check_secured, credential_of
from bot.executors.nats.link import Link, connect, persist
from bot.queue.executor import EngineCrashed
from contract.concepts import check_concepts
from contract.costs import predict
from contract.protocol import Failed, Finished, Progress, RenderRequest
from contract.registry import generator_names, lookup, upscaler_names
from contract.validation import check_device_here
from contract.wire import (
    HEARTBEAT,
    JOBS_STREAM,
    STORED,
    WorkerInfo,
    input_key,
    inputs,
    model_consumer,
    subject,
    token,
    with_inputs,
    worker_subject,
)

log = logging.getLogger(__name__)

MAX_DELIVERIES = 3  # a job handed out this often and never finished (its workers died) is failed, not tried again
POLL = 0.25  # seconds one model's queue is asked for a job before the next model's
DECLINE_DELAY = 0.1  # seconds before a job too large for this worker is offered again, to the others
DECLINE_PAUSE = 2.0  # seconds this worker asks for no job after declining one, so that one that fits gets it


class LostInput(Exception):
    """A picture the job needs is not in the object store."""


def held_models(config: Config) -> tuple[str, ...]:
    """``[worker] models``, or every generator and upscaler whose weights are in the weights folder (tiny ones
    are made on use)."""
    if config.worker.models:
        return tuple(config.worker.models)
    root = Path(config.engine.weights_dir)
    specs = [lookup(name) for name in generator_names() + upscaler_names()]
    return tuple(spec.name for spec in specs if spec.synthetic or not spec.missing_in(root))


def claim_config(claim_timeout: float) -> ConsumerConfig:
    """The per-model consumer every worker shares: a job is held until acked, or until its claim lapses."""
    return ConsumerConfig(ack_policy=AckPolicy.EXPLICIT, ack_wait=claim_timeout, max_ack_pending=1000)


class RemoteWorker:
    def __init__(self, config: Config, engine: EngineSupervisor, worker_id: str | None = None) -> None:
        self.config = config
        self.engine = engine
        self.worker_id = worker_id or worker_name(config)
        self.models = held_models(config)
        self.job_id: str | None = None
        self.link: Link | None = None

    def info(self) -> WorkerInfo:
        device, memory = self.engine.device or "starting", self.engine.memory_gib
        return WorkerInfo(self.worker_id, device, self.models, self.config.worker.max_side, self.job_id, memory)

    async def run(self) -> None:
        """Announce, take jobs and run them, until cancelled."""
        await self.engine.start()  # the device is known before the first announcement
        self.link = await connect(self.config.queue, f"dreambot-worker {self.worker_id}", self.worker_id)
        await self.link.client.subscribe("dreambot.cancel.*", cb=self._on_cancel)
        claim = claim_config(self.config.queue.claim_timeout)
        queues = [
            await self.link.jetstream.pull_subscribe(
                f"{subject('jobs', m)}.*", durable=model_consumer(m), stream=JOBS_STREAM, config=claim
            )
            for m in self.models
        ]
        log.info("worker %s takes jobs for %s on %s", self.worker_id, ", ".join(self.models), self.engine.device)
        heartbeat = asyncio.create_task(self._heartbeat(), name="heartbeat")
        try:
            while True:
                for queue in queues:
                    if (msg := await self._next(queue)) is not None:
                        await self._run(msg)
        finally:
            heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await heartbeat
            await self.link.close()
            await self.engine.stop()

    async def _next(self, queue) -> Msg | None:
        try:
            return (await queue.fetch(1, timeout=POLL))[0]
        except NatsTimeout:
            return None
        except Exception as error:  # the server restarting: the client reconnects, we ask again
            log.debug("asking for a job: %s", error)
            await asyncio.sleep(POLL)
            return None

    async def _announce(self) -> None:
        assert self.link is not None
        with contextlib.suppress(Exception):  # a reconnect in progress: the next beat says it
            await self.link.client.publish(subject("workers", self.worker_id), json.dumps(self.info().to_dict()).encode())

    async def _heartbeat(self) -> None:
        while True:
            await self._announce()
            await asyncio.sleep(HEARTBEAT)

    async def _on_cancel(self, msg: Msg) -> None:
        job_id = msg.subject.rsplit(".", 1)[-1]
        if job_id == self.job_id:
            log.info("job %s: cancel asked", job_id)
            await self.engine.cancel(job_id)

    async def _renew(self, msg: Msg) -> None:
        """Keep the claim on a long job while the engine works on it; a hung worker stops renewing."""
        while True:
            await asyncio.sleep(self.config.queue.claim_timeout / 3)
            with contextlib.suppress(Exception):
                await msg.in_progress()

    async def _run(self, msg: Msg) -> None:
        assert self.link is not None
        try:
            data = json.loads(msg.data)
            job_id, request = str(data["job_id"]), RenderRequest.from_dict(data["request"])
            concepts = check_concepts(data.get("concepts", []))
        except (ValueError, KeyError, TypeError) as error:
            log.error("dropping a malformed job (%s)", error)
            await msg.term()
            return
        if self.engine.memory_gib and (need := predict(request).memory_gib) > self.engine.memory_gib:
            # The bot hands a job out only while a worker that holds it is free; that one takes it while this one
            # keeps away from the queue a moment, instead of taking it back at once.
            log.info("job %s needs about %.1f GiB, more than this worker's %.1f; left for another", job_id, need,
                     self.engine.memory_gib)  # fmt: skip
            await msg.nak(delay=DECLINE_DELAY)
            await asyncio.sleep(DECLINE_PAUSE)
            return
        if msg.metadata.num_delivered > MAX_DELIVERIES:
            reason = f"workers stopped while painting this {MAX_DELIVERIES} times, so it was not tried again"
            await self._event(Failed(job_id, reason, "").to_dict())
            await msg.ack()
            return
        self.job_id = job_id
        await self._announce()
        renew = asyncio.create_task(self._renew(msg), name=f"claim {job_id}")
        log.info("job %s: %s at %s, delivery %d", job_id, request.model, request.size, msg.metadata.num_delivered)
        folder = Path(tempfile.mkdtemp(prefix=f"dreambot-{token(job_id)}-"))
        try:
            request = await self._fetch_inputs(job_id, request, folder)
            async for event in self.engine.render(job_id, request, concepts):
                if isinstance(event, Progress):
                    with contextlib.suppress(Exception):
                        await self.link.client.publish(self._about("progress", job_id), json.dumps(event.to_dict()).encode())
                elif isinstance(event, Finished):
                    await self._store(job_id, json.dumps(event.to_dict()).encode())
                    await self._event({"job_id": job_id, "kind": STORED})
                else:
                    if isinstance(event, Failed) and event.retryable:  # whatever broke may be left in the engine
                        log.warning("job %s failed (%s); restarting the engine before the next job", job_id, event.reason)
                        await self.engine.reset()
                    await self._event(event.to_dict())
        except EngineCrashed as crash:
            log.error("job %s: the engine died (%s); restarting it", job_id, crash)
            await self.engine.reset()
            crashed = Failed(job_id, f"the engine on worker {self.worker_id} stopped unexpectedly", "", retryable=True)
            await self._event(crashed.to_dict())
        except LostInput as lost:
            await self._event(Failed(job_id, str(lost), "").to_dict())
        finally:
            renew.cancel()
            self.job_id = None
            shutil.rmtree(folder, ignore_errors=True)
        with contextlib.suppress(Exception):  # if the server lost it, the job comes back and the bot keeps the first outcome
            await msg.ack()
        await self._announce()

    async def _fetch_inputs(self, job_id: str, request: RenderRequest, folder: Path) -> RenderRequest:
        """The job's pictures (they live on the bot's disk) from the object store into ``folder``."""
        assert self.link is not None
        paths = []
        for number, original in enumerate(inputs(request)):
            try:
                stored = await self.link.inputs.get(input_key(job_id, number))
            except NotFoundError:
                raise LostInput("a picture this job starts from never reached the worker; queue it again") from None
            path = folder / f"{number}{Path(original).suffix}"
            await asyncio.to_thread(path.write_bytes, stored.data or b"")
            paths.append(str(path))
        if paths:
            log.info("job %s: fetched %d input picture(s)", job_id, len(paths))
        return with_inputs(request, paths)

    async def _store(self, job_id: str, result: bytes) -> None:
        assert self.link is not None and self.link.results is not None
        results = self.link.results
        await persist(f"storing job {job_id}'s picture", lambda: results.put(job_id, result))

    def _about(self, kind: str, job_id: str) -> str:
        """The subject this worker (and only it: the server's permissions) says ``kind`` about ``job_id`` on."""
        return worker_subject(kind, self.worker_id, job_id)

    async def _event(self, data: dict) -> None:
        """A job event the bot must get: tried until NATS takes it."""
        assert self.link is not None
        jetstream, to, payload = self.link.jetstream, self._about("events", data["job_id"]), json.dumps(data).encode()
        await persist(f"sending job {data['job_id']}'s {data['kind']}", lambda: jetstream.publish(to, payload))


def worker_name(config: Config) -> str:
    """``[worker] name``, the name a worker credential carries, or the host name and process id. A credential's
    name is the only one its worker may publish under, so another configured name is refused at start."""
    credential = credential_of(config.queue)
    named = credential.worker if credential is not None else None
    if named is not None and config.worker.name and config.worker.name != named:
        raise ConfigError(f"[worker] name is {config.worker.name!r} but [queue] credentials are for worker {named!r}")
    return named or config.worker.name or f"{socket.gethostname()}-{os.getpid()}"


async def cancel_until_done(task: asyncio.Task, every: float = 1.0) -> None:
    """Cancel ``task`` again and again until it ends. On Python 3.11 a cancel that lands just as one of nats-py's
    ``wait_for`` completes is swallowed (cpython gh-86296), and a worker cancelled once could run on after SIGTERM."""
    while not task.done():
        task.cancel()
        await asyncio.wait({task}, timeout=every)


def serve_worker(config: Config) -> int:
    """``dreambot worker``: run until SIGINT/SIGTERM; a job in hand when it stops goes to another worker."""
    if not config.queue.url:
        raise ConfigError("dreambot worker needs [queue] url in config.toml (e.g. nats://127.0.0.1:4222)")
    check_secured(config.queue)
    check_device_here(config.engine.device)
    name = worker_name(config)  # a name its credential forbids is said before the engine loads
    supervisor = EngineSupervisor.for_config(config.engine)

    async def main() -> None:
        task = asyncio.current_task()
        assert task is not None
        loop = asyncio.get_running_loop()
        stopping: list[asyncio.Task] = []  # the stopper, kept referenced while it runs
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, lambda: stopping.append(loop.create_task(cancel_until_done(task))))
        with contextlib.suppress(asyncio.CancelledError):
            await RemoteWorker(config, supervisor, name).run()

    try:
        asyncio.run(main())
    except (OSError, NoServersError) as error:
        log.error("could not reach NATS at %s: %s", config.queue.url, error)
        return 2
    return 0
