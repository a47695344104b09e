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
from contract.wire import EVENTS_STREAM, JOBS_STREAM, RESULTS_BUCKET

log = logging.getLogger(__name__)

T = TypeVar("T")
RETRY_LIMIT = 5.0  # seconds between two tries at most

EVENTS_MAX_AGE = 24 * 3600.0  # seconds an unread job event is kept (the bot reads them at once when it runs)


@dataclass
class Link:
    client: Client
    jetstream: JetStreamContext
    results: ObjectStore

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


async def connect(config: QueueConfig, name: str) -> Link:
    """Connect to ``[queue] url`` and make sure the job and event streams and the result bucket exist."""

    async def disconnected() -> None:
        if not client.is_closed:  # closing it ourselves is no news
            log.warning("lost the connection to NATS at %s; reconnecting", config.url)

    async def reconnected() -> None:
        log.info("connected to NATS again")

    async def error(exception: Exception) -> None:
        log.warning("NATS: %s", exception)

    client = await nats.connect(
        servers=[config.url],
        name=name,
        user_credentials=config.credentials or None,
        tls=_tls(config),
        max_reconnect_attempts=-1,
        reconnect_time_wait=0.5,
        disconnected_cb=disconnected,
        reconnected_cb=reconnected,
        error_cb=error,
    )
    jetstream = client.jetstream()
    await _stream(jetstream, StreamConfig(JOBS_STREAM, subjects=["dreambot.jobs.>"], retention=RetentionPolicy.WORK_QUEUE))
    await _stream(jetstream, StreamConfig(EVENTS_STREAM, subjects=["dreambot.events.>"], max_age=EVENTS_MAX_AGE))
    try:
        results = await jetstream.create_object_store(RESULTS_BUCKET, storage=StorageType.FILE)
    except BadRequestError:
        results = await jetstream.object_store(RESULTS_BUCKET)
    return Link(client, jetstream, results)


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
