"""Starts the engine process, streams its events to the bot, and notices when it dies.

The engine speaks JSON lines (see ``engine/worker.py``). Reading them is awaited on the event loop,
so the bot never blocks while the GPU works. A dead engine surfaces as ``EngineCrashed``; the next
job starts a fresh process.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

from contract.protocol import Cancelled, Event, Failed, Finished, Ready, RenderRequest, cancel_command, render_command
from contract.speed import DEFAULT as DEFAULT_SPEED

log = logging.getLogger(__name__)

LINE_LIMIT = 256 * 1024 * 1024  # a final PNG and its GIF travel base64-encoded on one line
TERMINAL = (Finished, Failed, Cancelled)


class EngineCrashed(Exception):
    """The engine process exited or could not be started while a job was in flight."""


@dataclass(frozen=True)
class EngineCommand:
    """How to start the engine: ``python -m engine.worker`` with the configured device and weights."""

    device: str
    weights_dir: str
    speed: str = DEFAULT_SPEED
    python: str = sys.executable

    def argv(self) -> list[str]:
        worker = [self.python, "-m", "engine.worker"]
        return [*worker, "--device", self.device, "--weights-dir", self.weights_dir, "--speed", self.speed]


class EngineSupervisor:
    """One engine process at a time, started on demand and restarted after a crash."""

    def __init__(self, argv: Sequence[str], ready_timeout: float = 600.0) -> None:
        self.argv = list(argv)
        self.ready_timeout = ready_timeout
        self.device: str | None = None
        self._process: asyncio.subprocess.Process | None = None
        self._lock = asyncio.Lock()
        self._cancel_on_send: set[str] = set()  # cancels that came before the job reached the engine

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    def running(self) -> bool:
        return self._process is not None and self._process.returncode is None

    async def start(self) -> None:
        if self.running():
            return
        log.info("starting the engine: %s", " ".join(self.argv))
        try:
            self._process = await asyncio.create_subprocess_exec(
                *self.argv, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, limit=LINE_LIMIT
            )
        except OSError as error:
            raise EngineCrashed(f"the engine could not be started ({error})") from error
        try:
            event = await asyncio.wait_for(self._read(self._process), self.ready_timeout)
        except TimeoutError:
            await self.stop()
            raise EngineCrashed(f"the engine did not report ready within {self.ready_timeout:.0f}s") from None
        if not isinstance(event, Ready):
            await self.stop()
            raise EngineCrashed(f"the engine sent {event.kind!r} before it was ready")
        self.device = event.device
        log.info("engine ready on %s (pid %d)", event.device, self.pid)

    @staticmethod
    async def _read(process: asyncio.subprocess.Process) -> Event:
        assert process.stdout is not None
        while True:
            line = await process.stdout.readline()
            if not line:
                code = await process.wait()
                raise EngineCrashed(f"the engine process exited with code {code}")
            try:
                return Event.from_dict(json.loads(line))
            except (ValueError, KeyError, TypeError) as error:
                log.error("ignoring a malformed engine event (%s): %.200r", error, line)

    async def _send(self, command: dict) -> None:
        assert self._process is not None and self._process.stdin is not None
        try:
            self._process.stdin.write((json.dumps(command) + "\n").encode())
            await self._process.stdin.drain()
        except (ConnectionError, RuntimeError) as error:
            raise EngineCrashed(f"the engine stopped listening ({error})") from error

    async def render(self, job_id: str, request: RenderRequest) -> AsyncIterator[Event]:
        """Run one job; yields its events up to and including the final one (finished, failed or cancelled)."""
        async with self._lock:
            await self.start()
            process = self._process
            await self._send(render_command(job_id, request))
            if job_id in self._cancel_on_send:
                await self._send(cancel_command(job_id))
            while True:
                event = await self._read(process)
                if event.job_id != job_id:
                    log.warning("dropping an event for job %r while %s runs", event.job_id, job_id)
                    continue
                yield event
                if isinstance(event, TERMINAL):
                    self._cancel_on_send.discard(job_id)
                    return

    async def cancel(self, job_id: str) -> None:
        """Ask the engine to stop ``job_id`` after its current step, now or as soon as the job reaches it."""
        self._cancel_on_send.add(job_id)
        if self.running():
            try:
                await self._send(cancel_command(job_id))
            except EngineCrashed:
                log.warning("could not send the cancel for %s: the engine is gone", job_id)

    async def stop(self, grace: float = 3.0) -> None:
        """Close the engine's input (an idle engine exits), then terminate it, then kill it."""
        process, self._process = self._process, None
        if process is None or process.returncode is not None:
            return
        if process.stdin is not None:
            process.stdin.close()
        for escalate in (process.terminate, process.kill):
            try:
                await asyncio.wait_for(process.wait(), grace)
                return
            except TimeoutError:
                escalate()
        await process.wait()
