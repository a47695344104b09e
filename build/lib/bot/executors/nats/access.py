"""Who may do what on the NATS server: one user for the bot and one per worker, each allowed only its own part.

``dreambot nats-config`` writes a server configuration (``nats-server.conf``) naming these users and their
permissions, and one credential file per user. A client with no credentials is refused; the bot may hand out
jobs, cancel them and read everything; a worker may take jobs, read the pictures jobs start from, and publish
only under its own id: its announcement, its jobs' events and progress, and its own result bucket. So a
worker's events cannot be forged by another worker's credential, and the bot knows whose event it reads.

Each user's replies come to an inbox of its own (``_INBOX_<user>``): a worker cannot listen to the bot's.
"""

from __future__ import annotations

import ipaddress
import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from bot.config import ConfigError, QueueConfig
from contract.wire import EVENTS_STREAM, INPUTS_BUCKET, JOBS_STREAM, results_bucket, token

BOT_USER = "bot"
WORKER_PREFIX = "worker-"
JETSTREAM_FILES = 20 * 2**30  # bytes: the most the server keeps on disk, all streams and buckets together


def inbox_of(user: str) -> str:
    """The prefix of ``user``'s reply subjects: its own, so that no other user may listen to them."""
    return f"_INBOX_{token(user)}"


@dataclass(frozen=True)
class Credential:
    """A user and password that ``dreambot nats-config`` generated, read from a ``user:password`` file."""

    user: str
    password: str

    @property
    def inbox_prefix(self) -> str:
        return inbox_of(self.user)

    @property
    def worker(self) -> str | None:
        """The worker this credential belongs to (None: the bot's)."""
        return self.user.removeprefix(WORKER_PREFIX) if self.user.startswith(WORKER_PREFIX) else None

    @classmethod
    def read(cls, path: str) -> Credential:
        try:
            line = Path(path).read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as error:
            raise ConfigError(f"[queue] credentials: cannot read {path} ({error})") from None
        user, colon, password = line.partition(":")
        if not (colon and user and password) or "\n" in line:
            raise ConfigError(f"[queue] credentials: {path} is not a .creds file nor one line USER:PASSWORD")
        return cls(user, password)


def credential_of(config: QueueConfig) -> Credential | None:
    """``[queue] credentials`` when it names a ``user:password`` file (a ``.creds`` file is nats-py's own)."""
    if not config.credentials or config.credentials.endswith(".creds"):
        return None
    return Credential.read(config.credentials)


def check_secured(config: QueueConfig) -> None:
    """Refuse an open NATS server beyond this machine (anyone who reaches it could read every prompt and post
    pictures as the bot; ``[queue] insecure = true`` says the owner means it), and an unreadable credential file."""
    credential_of(config)  # a credential file that cannot be read is said at start, not at the first connection
    if not config.url or config.insecure:
        return
    parts = urlsplit(config.url)
    if parts.username or config.credentials or _loopback(parts.hostname or ""):
        return
    raise ConfigError(
        f"[queue] url {parts.hostname} is not this machine and has no credentials: run `dreambot nats-config` and set "
        "[queue] credentials (or set [queue] insecure = true if the network is yours alone)"
    )


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def bot_permissions() -> dict:
    """The bot hands out and cancels jobs, runs JetStream (streams, consumers, buckets) and hears every worker."""
    return {
        "publish": {"allow": ["dreambot.jobs.>", "dreambot.cancel.>", "$JS.>", "$O.>"]},
        "subscribe": {"allow": ["dreambot.workers.*", "dreambot.progress.>", f"{inbox_of(BOT_USER)}.>"]},
    }


def worker_permissions(worker: str) -> dict:
    """A worker takes jobs and reads their pictures; it speaks only under its own id and writes only its own bucket."""
    me, api = token(worker), "$JS.API"
    inputs, out = f"OBJ_{INPUTS_BUCKET}", f"OBJ_{results_bucket(worker)}"
    streams = (JOBS_STREAM, EVENTS_STREAM, inputs, out)  # the shared streams are declared by whoever starts first
    allow = [
        f"dreambot.workers.{me}",
        f"dreambot.events.{me}.>",
        f"dreambot.progress.{me}.>",
        f"{api}.INFO",
        f"{api}.STREAM.NAMES",  # an object's reader looks its stream up by subject
        *(f"{api}.STREAM.{verb}.{stream}" for stream in streams for verb in ("CREATE", "INFO")),
        f"{api}.CONSUMER.INFO.{JOBS_STREAM}.*",
        f"{api}.CONSUMER.CREATE.{JOBS_STREAM}",
        f"{api}.CONSUMER.CREATE.{JOBS_STREAM}.>",
        f"{api}.CONSUMER.DURABLE.CREATE.{JOBS_STREAM}.*",
        f"{api}.CONSUMER.MSG.NEXT.{JOBS_STREAM}.*",
        f"$JS.ACK.{JOBS_STREAM}.>",
        *(f"{api}.{read}.{stream}" for stream in (inputs, out) for read in ("STREAM.MSG.GET", "CONSUMER.CREATE")),
        *(f"{api}.{read}.{stream}.>" for stream in (inputs, out) for read in ("DIRECT.GET", "CONSUMER.CREATE")),
        *(f"{api}.CONSUMER.DELETE.{stream}.*" for stream in (inputs, out)),
        f"{api}.STREAM.PURGE.{out}",
        f"$O.{results_bucket(worker)}.>",
    ]
    inbox = inbox_of(WORKER_PREFIX + worker)
    return {"publish": {"allow": allow}, "subscribe": {"allow": ["dreambot.cancel.*", f"{inbox}.>"]}}


@dataclass(frozen=True)
class ServerConfig:
    """What ``dreambot nats-config`` writes: the server's configuration, and each user's credential."""

    conf: str
    credentials: dict[str, Credential]  # file name -> credential


def server_config(workers: list[str], listen: str, store_dir: str, tls: tuple[str, str] | None = None) -> ServerConfig:
    """A configuration for ``nats-server -c``: JetStream on, no anonymous client, the bot's and each worker's user."""
    if not workers:
        raise ConfigError("name at least one worker (--worker NAME), so that one may connect")
    if len({token(w) for w in workers}) != len(workers):
        raise ConfigError(f"worker names must differ in letters, digits, - and _: {', '.join(workers)}")
    bot = Credential(BOT_USER, secrets.token_urlsafe(32))
    users = [(bot, bot_permissions())]
    for worker in workers:
        users.append((Credential(WORKER_PREFIX + worker, secrets.token_urlsafe(32)), worker_permissions(worker)))
    settings: dict = {
        "listen": listen,
        "jetstream": {"store_dir": store_dir, "max_file_store": JETSTREAM_FILES, "max_memory_store": 256 * 2**20},
        "authorization": {
            "users": [{"user": c.user, "password": c.password, "permissions": p} for c, p in users],
        },
    }
    if tls is not None:
        settings["tls"] = {"cert_file": tls[0], "key_file": tls[1]}
    header = "# Written by `dreambot nats-config`: passwords inside; keep it readable by the NATS server only.\n"
    # nats-server reads JSON as its configuration format
    return ServerConfig(header + json.dumps(settings, indent=2) + "\n", {f"{c.user}.secret": c for c, _ in users})


def write_private(path: Path, text: str) -> None:
    """``text`` into a file only its owner may read, created so from the start."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as file:
        file.write(text)
    os.chmod(path, 0o600)
