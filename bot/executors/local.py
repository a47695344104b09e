"""Starts the engine process, streams its events to the bot, and notices when it dies or hangs.

The engine reads JSON-line commands on stdin and writes JSON-line events on a pipe of its own (the
descriptor named by ``EVENTS_FD_VARIABLE``); its stdout goes to the bot's stderr, so nothing a C
library or a compile worker prints can corrupt the event stream. Reading is awaited on the event
loop, so the bot never blocks while the GPU works. A dead engine surfaces as ``EngineCrashed``; the
next job starts a fresh process. A watchdog kills an engine that sends nothing for ``stall_timeout``
seconds, or that has not ended a cancelled job within ``cancel_grace`` seconds. The engine gets an
explicit environment without the bot's secrets.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import sys
import tempfile
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bot.queue.executor import EngineCrashed
from contract.limits import STALL_TIMEOUT
from contract.protocol import (
    BOT_PID_VARIABLE,
    EVENTS_FD_VARIABLE,
    TERMINAL,
    Cancelled,
    Downloading,
    Event,
    Fetched,
    Ready,
    RenderRequest,
    Warmed,
    batch_command,
    cancel_command,
    render_command,
    warm_command,
)
from contract.registry import perceptor_members
from contract.speed import DEFAULT as DEFAULT_SPEED
from contract.wire import inputs, with_inputs

if TYPE_CHECKING:
    from bot.config import EngineConfig

log = logging.getLogger(__name__)

LINE_LIMIT = 256 * 1024 * 1024  # a final PNG and its GIF travel base64-encoded on one line
AUTO_BATCH = {"cpu": 1, "cuda": 4}  # ``[engine] batch = "auto"`` per device type: see docs/PERFORMANCE.md
CANCEL_GRACE = 15.0  # seconds a cancelled job may take to stop before its engine is killed
SECRET = re.compile(r"TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL|API_?KEY", re.IGNORECASE)


def _absolute(request: RenderRequest) -> RenderRequest:
    """``request`` naming its pictures by absolute paths: the engine works in a folder of its own."""
    return with_inputs(request, [os.path.abspath(path) for path in inputs(request)])


def engine_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """The bot's environment without anything that looks like a secret (``DISCORD_TOKEN`` first of all)."""
    return {name: value for name, value in environ.items() if not SECRET.search(name)}


@dataclass(frozen=True)
class EngineCommand:
    """How to start the engine: ``python -m engine.worker`` with the configured device and weights."""

    device: str
    weights_dir: str
    speed: str = DEFAULT_SPEED
    python: str = sys.executable

    def argv(self) -> list[str]:
        worker = [self.python, "-m", "engine.worker"]
        weights = os.path.abspath(self.weights_dir)  # the engine works in a folder of its own
        return [*worker, "--device", self.device, "--weights-dir", weights, "--speed", self.speed]


class EngineSupervisor:
    """One engine process at a time, started on demand and restarted after a crash."""

    def __init__(
        self,
        argv: Sequence[str],
        ready_timeout: float = 600.0,
        stall_timeout: float = STALL_TIMEOUT,
        cancel_grace: float = CANCEL_GRACE,
        batch: str | int = "auto",
        warm: tuple[str, str] | None = None,
        download: bool = False,
        also: Sequence[str] = (),
    ) -> None:
        self.argv = list(argv)
        self._folder: str | None = None
        self.batch = batch
        self.warm = warm  # (generator, perceptor) every fresh engine loads at once
        self.download = download  # and fetches first, when their weights are missing
        self.also = tuple(also)  # models whose missing weights are fetched then too (the upscaler, the dreamer)
        self.fetches: dict[str, Downloading] = {}  # model -> its fetch under way, while there is one
        self.ready_timeout = ready_timeout
        self.stall_timeout = stall_timeout
        self.cancel_grace = cancel_grace
        self.device: str | None = None
        self.memory_gib = 0.0  # the engine's device memory, once it said (0: not yet)
        self._process: asyncio.subprocess.Process | None = None
        self.starts = 0  # engine processes started (beyond the first: restarts)
        self._inbox: asyncio.Queue[Event | BaseException] = asyncio.Queue()
        self._pump: asyncio.Task | None = None  # the reader of the running engine's events
        self._pumps: set[asyncio.Task] = set()  # every reader until it ends (the loop keeps only weak references)
        self._transport: asyncio.BaseTransport | None = None
        self._lock = asyncio.Lock()
        self._cancel_on_send: set[str] = set()  # cancels that came before the job reached the engine
        self._cancel_asked: dict[str, float] = {}  # running job -> when its cancel was sent
        self._last_event = 0.0
        self._kill_reason: str | None = None
        self._ready = False  # the running engine said it is ready (before that it only imports: nothing to lose)

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    @classmethod
    def for_config(
        cls,
        engine: EngineConfig,
        argv: Sequence[str] | None = None,
        warm: tuple[str, str] | None = None,
        also: Sequence[str] = (),
    ) -> EngineSupervisor:
        """The supervisor of the engine ``[engine]`` describes (``argv``: another command, for tests), loading
        ``warm`` (the default generator and perceptor) whenever an engine starts, fetched first when
        ``[engine] auto_download`` is on, and then fetching ``also`` (the default upscaler and dreamer)."""
        command = argv or EngineCommand(engine.device, engine.weights_dir, engine.speed).argv()
        return cls(
            command, stall_timeout=engine.stall_timeout, batch=engine.batch, warm=warm, download=engine.auto_download, also=also
        )

    def running(self) -> bool:
        return self._process is not None and self._process.returncode is None

    def _workdir(self) -> str:
        """An empty folder of the engine's own: it never starts beside the bot's ``.env`` (the token's file)."""
        if self._folder is None:
            self._folder = tempfile.mkdtemp(prefix="dreambot-engine-")
        return self._folder

    def can_take(self, job_id: str, request: RenderRequest, running: int) -> bool:
        """One job (or one batch) at a time, whatever it asks for."""
        return running == 0

    def memories(self) -> list[float]:
        """GiB of memory where jobs run (this engine's device), for admission; none while the engine has not said."""
        return [self.memory_gib] if self.memory_gib else []

    def batch_limit(self) -> int:
        """``[engine] batch``, or for "auto" what batching was measured to give on this kind of device: 1 on
        CPUs, where it lost, and ``AUTO_BATCH["cuda"]`` on GPUs; 1 until the engine has said which it has."""
        if self.batch != "auto":
            return int(self.batch)
        return AUTO_BATCH["cuda"] if (self.device or "").startswith("cuda") else AUTO_BATCH["cpu"]

    async def reset(self) -> None:
        """A fresh process for the next job."""
        await self.stop()

    async def start(self) -> None:
        if self.running():
            return
        log.info("starting the engine: %s", " ".join(self.argv))
        self.starts += 1
        loop = asyncio.get_running_loop()
        read_end, write_end = os.pipe()
        env = {**engine_environment(os.environ), EVENTS_FD_VARIABLE: str(write_end), BOT_PID_VARIABLE: str(os.getpid())}
        try:
            self._process = await asyncio.create_subprocess_exec(
                *self.argv, stdin=asyncio.subprocess.PIPE, stdout=sys.stderr.fileno(), pass_fds=(write_end,), env=env,
                cwd=self._workdir(),
            )  # fmt: skip
        except OSError as error:
            os.close(read_end)
            raise EngineCrashed(f"the engine could not be started ({error})") from error
        finally:
            os.close(write_end)  # the engine holds its own copy: end of file here means the engine is gone
        events = asyncio.StreamReader(limit=LINE_LIMIT)
        self._transport, _ = await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(events), os.fdopen(read_end, "rb"))
        self._inbox = asyncio.Queue()
        self.fetches = {}
        self._pump = asyncio.create_task(self._read_events(self._process, events, self._inbox), name="engine events")
        self._pumps.add(self._pump)
        self._pump.add_done_callback(self._pumps.discard)
        self._kill_reason = None
        self._ready = False
        try:
            event = await asyncio.wait_for(self._read(), self.ready_timeout)
        except TimeoutError:
            await self.stop()
            raise EngineCrashed(f"the engine did not report ready within {self.ready_timeout:.0f}s") from None
        if not isinstance(event, Ready):
            await self.stop()
            raise EngineCrashed(f"the engine sent {event.kind!r} before it was ready")
        self.device = event.device
        self.memory_gib = event.memory_gib if isinstance(event.memory_gib, (int, float)) and event.memory_gib > 0 else 0.0
        self._ready = True
        log.info("engine ready on %s (pid %d)", event.device, self.pid)
        if self.warm is not None:  # before any job: the first /dream finds the models loaded
            await self._send(warm_command(*self.warm, self.download, self.also))
            await self._warmed()

    async def _warmed(self) -> None:
        """Follow the engine's warm-up to its end. A fetch may take long; only ``stall_timeout`` seconds of
        silence end the wait (the engine stays up)."""
        try:
            while not isinstance(event := await asyncio.wait_for(self._read(), self.stall_timeout), Warmed):
                pass
        except TimeoutError:
            log.warning("the engine said nothing for %.0fs while loading the default models", self.stall_timeout)
            return
        if event.error:
            log.error("the default models are not ready: %s", event.error)

    async def prestart(self) -> None:
        """Start the engine before any job (at the bot's start), so the first /dream does not wait for it."""
        async with self._lock:
            await self.start()

    def fetching(self, request: RenderRequest) -> Downloading | None:
        """The fetch of a model ``request`` needs, while one is under way: the job would fail without it."""
        needs = {request.model, *perceptor_members(request.perceptor)}
        return next((fetch for name, fetch in self.fetches.items() if name in needs), None)

    async def _read_events(self, process: asyncio.subprocess.Process, events: asyncio.StreamReader, inbox: asyncio.Queue) -> None:
        """Every event ``process`` sends, read as it comes whether a job waits for it or not (the upscaler's
        fetch goes on between jobs), into ``inbox``; its end (the engine is gone) as an ``EngineCrashed``."""
        logged: tuple[str, int] = ("", -10)  # the file and percent last logged: every 10% of each file
        try:
            while line := await events.readline():
                self._last_event = asyncio.get_running_loop().time()
                try:
                    event = Event.from_dict(json.loads(line))
                except (ValueError, KeyError, TypeError) as error:
                    log.error("ignoring a malformed engine event (%s): %.200r", error, line)
                    continue
                if isinstance(event, Downloading) and not event.job_id:
                    self.fetches[event.name] = event
                    if event.percent is not None and (event.file != logged[0] or event.percent >= logged[1] + 10):
                        logged = (event.file, event.percent)
                        log.info("fetching the weights of %s (%s): %d%%", event.name, event.file, event.percent)
                elif isinstance(event, (Fetched, Warmed)) and not event.job_id:
                    self._fetched(event)
                inbox.put_nowait(event)
            code = await process.wait()
            inbox.put_nowait(EngineCrashed(self._kill_reason or f"the engine process exited with code {code}"))
        except Exception as error:  # an unreadable stream ends it as an exit would
            inbox.put_nowait(EngineCrashed(f"the engine's events could not be read ({error})"))
        finally:
            if self._pump is asyncio.current_task():  # not a stopped engine's, ending after the next one began
                self.fetches = {}

    def _fetched(self, event: Fetched | Warmed) -> None:
        """A fetch ended: ``fetched`` ends one model's, ``warmed`` the default generator's and perceptor's."""
        ended = [event.name] if isinstance(event, Fetched) else [name for name in self.fetches if name not in self.also]
        for name in ended:
            self.fetches.pop(name, None)
        if isinstance(event, Fetched) and event.error:
            log.error("could not fetch the weights of %s: %s", event.name, event.error)

    async def _read(self) -> Event:
        """The engine's next event; ``EngineCrashed`` once it is gone (and again at every later call)."""
        item = await self._inbox.get()
        if isinstance(item, BaseException):
            self._inbox.put_nowait(item)
            raise item
        return item

    async def _send(self, command: dict) -> None:
        assert self._process is not None and self._process.stdin is not None
        try:
            self._process.stdin.write((json.dumps(command) + "\n").encode())
            await self._process.stdin.drain()
        except (ConnectionError, RuntimeError) as error:
            raise EngineCrashed(f"the engine stopped listening ({error})") from error

    async def render(self, job_id: str, request: RenderRequest, concepts: Sequence[str] = ()) -> AsyncIterator[Event]:
        """Run one job; yields its events up to and including the final one (finished, failed or cancelled)."""
        async for event in self.render_batch([(job_id, request)], {job_id: concepts}):
            yield event

    async def render_batch(
        self, jobs: Sequence[tuple[str, RenderRequest]], concepts: Mapping[str, Sequence[str]] | None = None
    ) -> AsyncIterator[Event]:
        """Run jobs that share a ``batch_key`` as one batch (one job: alone); yields every job's events until
        each has sent its final one. A job cancelled before it was sent ends at once and is left out."""
        async with self._lock:
            await self.start()
            process = self._process
            assert process is not None
            ids = {job_id for job_id, _ in jobs}
            self._last_event = asyncio.get_running_loop().time()
            watchdog = asyncio.create_task(self._watch(process, ids), name=f"watchdog {', '.join(sorted(ids))}")
            try:
                for job_id in ids & self._cancel_on_send:  # never sent: the engine would start it before it read the cancel
                    yield Cancelled(job_id, 0)
                jobs = [(job_id, _absolute(request)) for job_id, request in jobs if job_id not in self._cancel_on_send]
                pending = {job_id for job_id, _ in jobs}
                if not pending:
                    return
                single = len(jobs) == 1
                concepts = concepts or {}
                command = (
                    render_command(*jobs[0], concepts=concepts.get(jobs[0][0], ()))
                    if single
                    else batch_command(jobs, concepts=concepts)
                )
                await self._send(command)
                while pending:
                    event = await self._read()
                    if not event.job_id:  # a fetch beside the jobs: followed by _read_events
                        continue
                    if event.job_id not in pending:
                        log.warning("dropping an event for job %r while %s runs", event.job_id, ", ".join(sorted(pending)))
                        continue
                    yield event
                    if isinstance(event, TERMINAL):  # the others of a batch go on: its cancel no longer counts
                        pending.discard(event.job_id)
                        self._cancel_asked.pop(event.job_id, None)
            finally:
                watchdog.cancel()
                for job_id in ids:
                    self._cancel_on_send.discard(job_id)
                    self._cancel_asked.pop(job_id, None)

    async def _watch(self, process: asyncio.subprocess.Process, job_ids: set[str]) -> None:
        """Kill ``process`` when its jobs send nothing for too long, or one outlives its cancel's grace."""
        loop = asyncio.get_running_loop()
        tick = min(1.0, self.stall_timeout / 4, self.cancel_grace / 4)
        while process.returncode is None:
            await asyncio.sleep(tick)
            now = loop.time()
            asked = [self._cancel_asked[j] for j in job_ids if j in self._cancel_asked]
            if asked and now - min(asked) > self.cancel_grace:
                reason = f"the engine did not stop the cancelled job within {self.cancel_grace:g}s"
            elif now - self._last_event > self.stall_timeout:
                reason = f"the engine sent nothing for {self.stall_timeout:g}s and was stopped"
            else:
                continue
            log.error("jobs %s: %s (pid %d)", ", ".join(sorted(job_ids)), reason, process.pid)
            self._kill_reason = reason
            process.kill()
            return

    async def cancel(self, job_id: str) -> None:
        """Ask the engine to stop ``job_id`` after its current step, now or as soon as the job reaches it.

        A running job that has not stopped ``cancel_grace`` seconds later is ended by killing its engine.
        """
        self._cancel_on_send.add(job_id)
        if self.running():
            try:
                await self._send(cancel_command(job_id))
            except EngineCrashed:
                log.warning("could not send the cancel for %s: the engine is gone", job_id)
            self._cancel_asked.setdefault(job_id, asyncio.get_running_loop().time())

    async def stop(self, grace: float = 3.0) -> None:
        """Close the engine's input (an idle engine exits), then terminate it, then kill it. An engine that has
        not said ready yet is still importing and would read its input only when done: it is terminated at once."""
        process, self._process = self._process, None
        transport, self._transport = self._transport, None
        self._pump = None  # it reads on to the end of the events, and wakes whoever waits for one
        self.fetches = {}
        if transport is not None:
            transport.close()
        if process is None or process.returncode is not None:
            return
        if process.stdin is not None:
            process.stdin.close()
        if not self._ready:
            process.terminate()
        for escalate in (process.terminate, process.kill):
            try:
                await asyncio.wait_for(process.wait(), grace)
                return
            except TimeoutError:
                escalate()
        await process.wait()
