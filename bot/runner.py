"""``dreambot run``: read the token, start the bot, and turn start-up failures into one clear line."""

from __future__ import annotations

import asyncio
import ctypes
import logging
import os
import signal
import sys
from collections.abc import Sequence

import discord
from dotenv import dotenv_values

from bot.client import DreamBot
from bot.config import Config, ConfigError
from bot.executors.nats.access import check_secured
from bot.queue.store import StoreError
from contract.validation import check_device_here

log = logging.getLogger(__name__)

PR_SET_DUMPABLE = 4  # from <linux/prctl.h>


def read_token() -> str:
    """``DISCORD_TOKEN`` from the environment, else from ``.env`` in the working directory.

    ``.env`` is read, not loaded into the environment: nothing the bot starts can inherit the token from it.
    """
    token = (os.environ.get("DISCORD_TOKEN") or dotenv_values(".env").get("DISCORD_TOKEN") or "").strip()
    if not token:
        raise ConfigError("DISCORD_TOKEN is not set: export it, or put DISCORD_TOKEN=... in .env in this folder")
    return token


async def serve(config: Config, token: str, engine_argv: Sequence[str] | None = None) -> None:
    """Run until Discord closes the connection or a SIGINT/SIGTERM (``docker stop``) asks for a clean stop."""
    async with DreamBot(config, engine_argv) as bot:
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, _stop, bot, signum.name)
        await bot.start(token)


def _stop(bot: DreamBot, name: str) -> None:
    log.info("%s received: finishing up (queued jobs stay queued for the next start)", name)
    task = asyncio.get_running_loop().create_task(bot.close())
    _closing.add(task)
    task.add_done_callback(_closing.discard)


_closing: set[asyncio.Task] = set()


def undumpable() -> None:
    """No other process of this user (the engine above all, which runs model code) may read this one's memory or
    ``/proc/<pid>/environ``, where the Discord token lives (Linux's ``PR_SET_DUMPABLE`` 0; root still may)."""
    if not sys.platform.startswith("linux"):
        return
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0:
        log.warning("could not hide this process from its children (prctl: %s)", os.strerror(ctypes.get_errno()))


def run(config: Config) -> int:
    check_secured(config.queue)  # before the token is read: an open broker or a bad credential is said in one line
    if not config.queue.url:  # the engine runs here
        check_device_here(config.engine.device)
    undumpable()
    token = read_token()
    log.info("starting dreambot against %s (config: %s)", config.discord.api_base, config.source or "built-in defaults")
    try:
        asyncio.run(serve(config, token))
    except discord.LoginFailure:
        log.error("Discord refused the token in DISCORD_TOKEN (401); copy it again from the Developer Portal's Bot page")
        return 2
    except discord.PrivilegedIntentsRequired:
        log.error("Discord refused an intent this bot asked for; it needs no privileged intents, so check the token's app")
        return 2
    except (discord.GatewayNotFound, OSError) as error:
        log.error("could not reach Discord at %s: %s", config.discord.api_base, error)
        return 2
    except StoreError as error:
        log.error("%s", error)
        return 2
    return 0
