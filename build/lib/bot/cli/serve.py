"""``dreambot run`` (the Discord bot) and ``dreambot worker`` (a remote GPU worker): the long-running processes."""

from __future__ import annotations

import argparse

from bot.config import Config


def add_commands(commands: argparse._SubParsersAction, parent: argparse.ArgumentParser) -> None:
    run = commands.add_parser("run", parents=[parent], help="run the Discord bot (token from DISCORD_TOKEN or .env)")
    run.set_defaults(handler=cmd_run)
    worker = commands.add_parser("worker", parents=[parent], help="take jobs from NATS ([queue] url) on this GPU machine")
    worker.set_defaults(handler=cmd_worker)


def cmd_run(args: argparse.Namespace, config: Config) -> int:
    from bot.runner import run

    return run(config)


def cmd_worker(args: argparse.Namespace, config: Config) -> int:
    from bot.executors.nats.worker import serve_worker

    return serve_worker(config)
