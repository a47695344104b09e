"""The connection to NATS JetStream that the bot and every worker open, and the streams they share.

Both sides declare the same streams, so whichever starts first creates them and neither depends on
an operator having set them up. The client reconnects for ever: a restarted server is a pause, not an
error.
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

    async def disconnected() -> None:
        if not client.is_closed:  # closing it ourselves is no news
            log.warning("lost the connection to NATS at %s; reconnecting", config.url)

    async def reconnected() -> None:
        log.info("connected to NATS again")

    async def error(exception: Exception) -> None:
        log.warning("NATS: %s", exception)

    credential = credential_of(config)
    login = {}
    if credential is not None:
        login = {"user": credential.user, "password": credential.password, "inbox_prefix": credential.inbox_prefix}
    client = await nats.connect(
        servers=[config.url],
        name=name,
        user_credentials=(config.credentials or None) if credential is None else None,
        tls=_tls(config),
        **login,
        max_reconnect_attempts=-1,
        reconnect_time_wait=0.5,
        disconnected_cb=disconnected,
        reconnected_cb=reconnected,
        error_cb=error,
    )
    jetstream = client.jetstream()
    jobs = StreamConfig(JOBS_STREAM, subjects=["dreambot.jobs.>"], retention=RetentionPolicy.WORK_QUEUE, **JOBS_LIMITS)
    await _stream(jetstream, jobs)
    await _stream(jetstream, StreamConfig(EVENTS_STREAM, subjects=["dreambot.events.>"], **EVENTS_LIMITS))
    inputs = await _bucket(jetstream, INPUTS_BUCKET, INPUTS_MAX_BYTES)
    results = await _bucket(jetstream, results_bucket(worker_id), RESULTS_MAX_BYTES) if worker_id is not None else None
    return Link(client, jetstream, inputs, results)


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
