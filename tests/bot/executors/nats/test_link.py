"""The connection every bot and worker opens: a server that is not there yet is waited for with growing
pauses and said once; an outage is said once when it begins and once when it ends."""

from __future__ import annotations

import asyncio
import logging

from bot.config import QueueConfig
from bot.executors.nats import link
from bot.executors.nats.link import connect
from tests.support.nats import NatsServer
from tests.support.waiting import until

LOGGER = "bot.executors.nats.link"


async def test_a_server_not_there_yet_is_waited_for_with_growing_pauses_and_said_once(tmp_path, caplog):
    server = NatsServer(tmp_path)
    tries = 0
    real_connect = link.nats.connect

    async def counted(*args, **kwargs):
        nonlocal tries
        tries += 1
        return await real_connect(*args, **kwargs)

    caplog.set_level(logging.DEBUG, logger=LOGGER)
    link.nats.connect = counted
    try:
        waiting = asyncio.create_task(connect(QueueConfig(url=server.url), "test"))
        await asyncio.sleep(10.0)  # a try (two connects) at about 0, 1, 2.5, 5 and 9.5 s; without pauses that grow, 10
        seen = tries
        await server.start()
        joined = await asyncio.wait_for(waiting, 120)
    finally:
        link.nats.connect = real_connect
    try:
        assert 2 <= seen <= 6, f"{seen} tries in 10 s"
        warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
        assert len(warnings) == 1, warnings
        assert warnings[0].startswith(f"waiting for NATS at {server.url} ([Errno 111] ")
        assert warnings[0].endswith("); trying again every 30s at most")
        assert f"connected to NATS at {server.url}" in caplog.text
        assert joined.client.is_connected and joined.client.options["allow_reconnect"], "later outages reconnect"
    finally:
        await joined.close()
        await server.stop()


async def test_an_outage_is_said_when_it_begins_and_when_it_ends_not_at_each_reconnect(tmp_path, caplog):
    server = NatsServer(tmp_path)
    await server.start()
    joined = await connect(QueueConfig(url=server.url), "test")
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    try:
        await server.stop()
        await until(lambda: caplog.text.count("NATS at") >= 6, timeout=600)  # the client tries every 0.5 s
        await server.start()
        await until(lambda: f"connected to NATS at {server.url} again" in caplog.text, timeout=600)
        warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
        assert len(warnings) == 1 and warnings[0].startswith(f"lost NATS at {server.url}"), warnings
        assert f"connected to NATS at {server.url} again" in caplog.text
    finally:
        await joined.close()
        await server.stop()
