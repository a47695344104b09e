"""Engines forked from one process that imported torch once, for tests about the bot rather than the engine.

A real engine spends 3-5 s of CPU importing torch and open_clip before it says ready, in every test that
starts a bot. Here a zygote process imports them once per session and waits on a Unix socket. The bot's
supervisor starts this file as its engine command: a client that imports nothing heavy, hands its standard
streams and its events descriptor to the zygote, which forks a child running ``engine.worker.main`` on them.
The client then waits for that child and exits with its code, and passes a SIGTERM on to it; closing the
engine's input (how the supervisor stops an engine) ends the child as it ends a real engine.

What the child runs is the engine's own code with the bot's environment; only the imports were done before.
Tests about the engine process itself (killed, frozen, its environment, its start) start the real one.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.config import EngineConfig

MESSAGE_LIMIT = 1 << 20  # bytes: the arguments and the environment


def serve(path: str) -> None:
    """The zygote: import the engine, then fork one engine per client until killed."""
    sys.path[:] = [entry or os.getcwd() for entry in sys.path]  # a child works in its client's folder
    # torch, open_clip and the painters' common code: what every child would import
    import engine.pipeline
    import engine.worker

    server = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    server.bind(path)
    server.listen(16)
    waiting: dict[int, socket.socket] = {}  # child pid -> the connection of the client waiting for it
    while True:
        readable, _, _ = select.select([server], [], [], 0.05)
        if readable:
            connection, _ = server.accept()
            try:
                _fork_for(connection, server, engine.worker.main, waiting)
            except (OSError, ValueError) as error:  # a client gone before its engine was handed over
                print(f"engine zygote: a client was lost ({error})", file=sys.stderr)
                connection.close()
        _reap(waiting)


def _fork_for(connection: socket.socket, server: socket.socket, main, waiting: dict[int, socket.socket]) -> None:
    """Fork the engine a client asks for, on its streams, and tell it the engine's pid."""
    message, fds, _, _ = socket.recv_fds(connection, MESSAGE_LIMIT, 4)
    try:
        if len(fds) != 4:
            raise ValueError("the client sent no streams")
        asked = json.loads(message)
        pid = os.fork()
        if pid == 0:
            server.close()
            _run_child(main, asked, fds)
    finally:
        for fd in fds:  # the child has its own copies
            os.close(fd)
    waiting[pid] = connection
    try:
        connection.sendall(str(pid).encode())
    except OSError:  # the client was stopped at once (an engine stopped before ready): nobody waits for this one
        os.kill(pid, signal.SIGKILL)


def _reap(waiting: dict[int, socket.socket]) -> None:
    """Tell each client whose engine ended how it ended (one that is gone no longer needs telling)."""
    while waiting:
        pid, status = os.waitpid(-1, os.WNOHANG)
        if pid == 0:
            return
        if connection := waiting.pop(pid, None):
            with contextlib.suppress(OSError):
                connection.sendall(str(os.waitstatus_to_exitcode(status)).encode())
            connection.close()


def _run_child(main, asked: dict, fds: list[int]) -> None:
    """In the forked child: become the engine the client would have been, then exit without the teardown."""
    from contract.protocol import BOT_PID_VARIABLE, EVENTS_FD_VARIABLE

    for target, fd in zip((0, 1, 2), fds[:3], strict=True):
        os.dup2(fd, target)
    os.chdir(asked["cwd"])
    os.environ.clear()
    os.environ.update(asked["env"])
    os.environ[EVENTS_FD_VARIABLE] = str(fds[3])
    os.environ[BOT_PID_VARIABLE] = str(os.getppid())  # the zygote outlives the client: input's end stops the engine
    code = 1
    try:
        code = main(asked["args"])
    except SystemExit as stop:
        code = stop.code if isinstance(stop.code, int) else 1
    finally:
        sys.stderr.flush()
        os._exit(code)


def client(path: str, args: list[str]) -> int:
    """The engine command the bot runs: have the zygote fork an engine on these streams, and end as it ends."""
    from contract.protocol import EVENTS_FD_VARIABLE

    events = int(os.environ[EVENTS_FD_VARIABLE])
    link = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    link.connect(path)
    socket.send_fds(link, [json.dumps({"args": args, "env": dict(os.environ), "cwd": os.getcwd()}).encode()], [0, 1, 2, events])
    os.close(events)  # the child holds the engine's ends now: their end of file is the child's
    os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
    child = int(link.recv(64))
    signal.signal(signal.SIGTERM, lambda *_: os.kill(child, signal.SIGTERM))
    code = int(link.recv(64) or 1)
    if code < 0:  # killed by a signal: end the same way
        signal.signal(-code, signal.SIG_DFL)
        os.kill(os.getpid(), -code)
    return code


def command(path: Path, engine: EngineConfig) -> list[str]:
    """The engine command (``running_bot``'s ``engine_argv``) of the engine ``engine`` describes, forked by the
    zygote at ``path``."""
    from bot.executors.local import EngineCommand

    return _forked(EngineCommand(engine.device, engine.weights_dir, engine.speed).argv(), path)


def _forked(argv: list[str], path: Path | str) -> list[str]:
    """The engine command ``argv`` (``python -m engine.worker ARGS``) as this file's client: the same ARGS
    (``-P``: this folder's modules must not shadow packages of the same name)."""
    return [sys.executable, "-P", __file__, str(path), *argv[3:]]


def worker(path: str, argv: list[str]) -> int:
    """``dreambot ARGV`` (a ``dreambot worker``) whose engines are forked by the zygote at ``path``: the worker's own
    code, with the engine command it builds from its config pointed at this file."""
    from bot.cli import main
    from bot.executors.local import EngineCommand

    real = EngineCommand.argv
    EngineCommand.argv = lambda engine: _forked(real(engine), path)
    return main(argv)


def start_zygote(path: Path) -> subprocess.Popen:
    """The zygote, listening at ``path`` once its imports are done (3-5 s)."""
    from tests.support.processes import ROOT
    from tests.support.waiting import PATIENCE

    env = {name: value for name, value in os.environ.items() if name != "DISCORD_TOKEN"}
    code = f"from tests.support.forked_engine import serve; serve({str(path)!r})"
    zygote = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, env=env, stdin=subprocess.DEVNULL)
    deadline = time.monotonic() + PATIENCE
    while not path.exists():
        assert zygote.poll() is None and time.monotonic() < deadline, "the engine zygote did not start"
        time.sleep(0.05)
    return zygote


if __name__ == "__main__":
    sys.exit(client(sys.argv[1], sys.argv[2:]))
