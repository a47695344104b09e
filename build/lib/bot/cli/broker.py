"""``dreambot nats-config``: a NATS server configuration with one user per role, and each user's credential."""

from __future__ import annotations

import argparse
from pathlib import Path

from bot.config import Config, ConfigError


def add_commands(commands: argparse._SubParsersAction, parent: argparse.ArgumentParser) -> None:
    command = commands.add_parser(
        "nats-config", parents=[parent], help="write nats-server.conf and a credential for the bot and each worker"
    )
    command.add_argument("--worker", action="append", required=True, metavar="NAME", help="a worker's name (repeat it)")
    command.add_argument("--out", default="nats", metavar="DIR", help="where to write them (default: ./nats)")
    command.add_argument("--listen", default="0.0.0.0:4222", metavar="HOST:PORT", help="where the server listens")
    command.add_argument("--store", default="/data", metavar="DIR", help="the server's JetStream folder")
    command.add_argument("--tls-cert", metavar="PATH", help="the server's certificate (with --tls-key): clients use tls://")
    command.add_argument("--tls-key", metavar="PATH")
    command.add_argument("--force", action="store_true", help="replace existing files (every credential changes)")
    command.set_defaults(handler=cmd_nats_config)


def cmd_nats_config(args: argparse.Namespace, config: Config) -> int:
    from bot.executors.nats.access import server_config, write_private

    if bool(args.tls_cert) != bool(args.tls_key):
        raise ConfigError("--tls-cert and --tls-key go together")
    tls = (args.tls_cert, args.tls_key) if args.tls_cert else None
    written = server_config(args.worker, args.listen, args.store, tls)
    out = Path(args.out)
    files = {"nats-server.conf": written.conf} | {name: f"{c.user}:{c.password}\n" for name, c in written.credentials.items()}
    existing = [name for name in files if (out / name).exists()]
    if existing and not args.force:
        raise ConfigError(f"{out} holds {', '.join(existing)} already; --force replaces them (every credential changes)")
    out.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        write_private(out / name, text)
    print(f"wrote {out / 'nats-server.conf'} (start the server with: nats-server -c {out / 'nats-server.conf'})")
    print(f"the bot: [queue] credentials = {str(out / 'bot.secret')!r}")
    for worker in args.worker:
        print(f"worker {worker}: [worker] name = {worker!r} and [queue] credentials = 'worker-{worker}.secret' (copy it there)")
    return 0
