"""The connection to NATS JetStream that the bot and every worker open, and the streams they share.

Both sides declare the same streams, so whichever starts first creates them and neither depends on
an operator having set them up. The client reconnects for ever: a restarted server is a pause, not an
error. A server not there yet at start is waited for with growing pauses, and each outage is said once.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

import nats
from nats.aio.client import Client
from nats.errors import Error as NatsError
from nats.js import JetStreamContext
from nats.js.api import RetentionPolicy, StorageType, StreamConfig
from nats.js.errors import BadRequestError
from nats.js.object_store import ObjectStore

from bot.config import QueueConfig
from bot.executors.nats.access import credential_of
from contract.wire import EVENTS_STREAM, INPUTS_BUCKET, JOBS_STREAM, results_bucket

log = logging.getLogger(__name__)

T = TypeVar("T")
RETRY_LIMIT = 5.0  # seconds between two tries at most
FIRST_CONNECT_LIMIT = 30.0  # seconds between two tries to reach a server that was never reached, at most

EVENTS_MAX_AGE = 24 * 3600.0  # seconds an unread job event is kept (the bot reads them at once when it runs)
# Bounds on what the broker keeps, whoever publishes: a job or an event is a small JSON message (a finished
# picture goes through a worker's bucket), and a flood fills a stream's bytes, not the server's disk.
JOBS_LIMITS = {"max_msg_size": 64 * 1024, "max_bytes": 64 * 2**20}
EVENTS_LIMITS = {"max_msg_size": 64 * 1024, "max_bytes": 256 * 2**20, "max_age": EVENTS_MAX_AGE}
INPUTS_MAX_BYTES = 2 * 2**30  # pictures waiting for their jobs: 8 MiB each at most (bot/admission/attachments.py)
RESULTS_MAX_BYTES = 2**30  # one worker's finished jobs not yet read by the bot


@dataclass
class Link:
    client: Client
    jetstream: JetStreamContext
    inputs: ObjectStore  # the pictures jobs start from: the bot writes, workers read
    results: ObjectStore | None = None  # a worker's own bucket of finished jobs (the bot's link has none)

    async def results_of(self, worker_token: str) -> ObjectStore:
        """A worker's bucket of finished jobs, for the bot to read and empty."""
        return await self.jetstream.object_store(results_bucket(worker_token))

    async def close(self) -> None:
        """Close at once (pending publishes are flushed): what was fetched and not acked comes back to someone else."""
        if not self.client.is_closed:
            await self.client.close()


def _tls(config: QueueConfig) -> ssl.SSLContext | None:
    if not (config.tls_ca or config.tls_cert):
        return None
    context = ssl.create_default_context(cafile=config.tls_ca or None)
    if config.tls_cert:
        context.load_cert_chain(config.tls_cert, config.tls_key or None)
    return context


async def connect(config: QueueConfig, name: str, worker_id: str | None = None) -> Link:
    """Connect to ``[queue] url`` and make sure the job and event streams and the inputs bucket exist; a worker's
    link (``worker_id``) has its own bucket for the pictures it paints."""

    outage = Outage(config.url)
    credential = credential_of(config)
    login = {}
    if credential is not None:
        login = {"user": credential.user, "password": credential.password, "inbox_prefix": credential.inbox_prefix}
    options = {
        "servers": [config.url], "name": name, "tls": _tls(config), **login,
        "user_credentials": (config.credentials or None) if credential is None else None,
        "max_reconnect_attempts": -1, "reconnect_time_wait": 0.5,
        "disconnected_cb": outage.began, "reconnected_cb": outage.ended, "error_cb": outage.error,
    }  # fmt: skip
    client = await _first_connect(options, outage)
    jetstream = client.jetstream()
    jobs = StreamConfig(JOBS_STREAM, subjects=["dreambot.jobs.>"], retention=RetentionPolicy.WORK_QUEUE, **JOBS_LIMITS)
    await _stream(jetstream, jobs)
    await _stream(jetstream, StreamConfig(EVENTS_STREAM, subjects=["dreambot.events.>"], **EVENTS_LIMITS))
    inputs = await _bucket(jetstream, INPUTS_BUCKET, INPUTS_MAX_BYTES)
    results = await _bucket(jetstream, results_bucket(worker_id), RESULTS_MAX_BYTES) if worker_id is not None else None
    return Link(client, jetstream, inputs, results)


class Outage:
    """What the client says about its connection: each outage once (when it begins, with its first error, and
    when it ends), never an error per reconnect attempt (every 0.5 s for as long as the server is gone)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.reached = False  # before the first connection, _first_connect says what it waits for
        self.last = ""  # the last error's text
        self.down = False
        self.said = False  # this outage's first error was logged

    async def began(self) -> None:
        self.down = True  # its first error, said or about to be, is this outage's

    async def ended(self) -> None:
        if self.down:
            log.info("connected to NATS at %s again", self.url)
        self.down, self.said = False, False

    async def error(self, exception: Exception) -> None:
        reason = self.last = str(exception) or type(exception).__name__
        if not self.reached:
            return
        if self.said:
            log.debug("NATS at %s: %s", self.url, reason)
            return
        self.said = True
        log.warning("lost NATS at %s (%s); reconnecting (said once, until it is back)", self.url, reason)


async def _first_connect(options: dict, outage: Outage) -> Client:
    """Connect, waiting for a server that is not there yet with pauses that grow to ``FIRST_CONNECT_LIMIT``;
    once connected, the client itself reconnects whenever the server goes."""
    delay, failed = 0.5, 0
    first = {**options, "allow_reconnect": False, "max_reconnect_attempts": 1}  # give up after 2 tries: we pause
    while True:
        try:
            client = await nats.connect(**first)
        except (OSError, TimeoutError, NatsError) as error:
            reason = outage.last or str(error) or type(error).__name__
            failed += 1
            if failed == 1:
                log.warning("waiting for NATS at %s (%s); trying again every %.0fs at most", outage.url, reason,
                            FIRST_CONNECT_LIMIT)  # fmt: skip
            else:
                log.debug("NATS at %s is still not there (%s)", outage.url, reason)
            await asyncio.sleep(delay)
            delay = min(delay * 2, FIRST_CONNECT_LIMIT)
            continue
        if failed:
            log.info("connected to NATS at %s", outage.url)
        client.options |= {"allow_reconnect": True, "max_reconnect_attempts": -1}  # from here on it reconnects for ever
        outage.reached = True
        return client


async def _bucket(jetstream: JetStreamContext, name: str, max_bytes: int) -> ObjectStore:
    try:
        return await jetstream.create_object_store(name, storage=StorageType.FILE, max_bytes=max_bytes)
    except BadRequestError:  # it exists
        return await jetstream.object_store(name)


async def _stream(jetstream: JetStreamContext, config: StreamConfig) -> None:
    try:
        await jetstream.add_stream(config)
    except BadRequestError:  # it exists (perhaps with settings an operator changed): use it as it is
        await jetstream.stream_info(config.name)


async def persist(what: str, operation: Callable[[], Awaitable[T]]) -> T:
    """``operation()`` tried until the server takes it: while NATS restarts, a job's events and results wait, not vanish."""
    delay = 0.25
    while True:
        try:
            return await operation()
        except Exception as error:  # disconnected, no responders while JetStream starts, a timeout
            log.warning("%s failed (%s); trying again in %.1fs", what, error or type(error).__name__, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, RETRY_LIMIT)
