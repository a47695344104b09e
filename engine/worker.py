"""The engine process: reads commands as JSON lines on stdin, writes events as JSON lines on its
events descriptor (``$DREAMBOT_EVENTS_FD``, which the bot's supervisor opens; stdout when run by hand).

The bot starts it (``python -m engine.worker``) and supervises it. It owns the device and runs one
job, or one batch of jobs that share a model, perceptor and size, at a time; a reader thread keeps
listening while a job runs, so a cancel lands between steps.
Descriptor 1 is pointed at stderr, so nothing printed by Python or a C library reaches the events.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import queue
import sys
import threading
import time
import traceback
from functools import partial
from typing import IO, Any

from contract.errors import BadRequest, JobCancelled, OutOfMemory, WeightsError, without_paths
from contract.protocol import (
    BOT_PID_VARIABLE,
    EVENTS_FD_VARIABLE,
    Cancelled,
    Downloading,
    Event,
    Failed,
    Fetched,
    Finished,
    Progress,
    Ready,
    RenderRequest,
    Started,
    Warmed,
)
from contract.speed import DEFAULT as DEFAULT_SPEED
from engine.kinds import RUNS, Send, finished

log = logging.getLogger("engine.worker")

OOM_HINT = "try a smaller size (e.g. 256x256) or fewer cutouts; memory grows with the picture's pixels, not with the steps"
PARENT_CHECK = 2.0  # seconds between two looks at whether the bot is still there, while idle
WEIGHTS_HINT = "the bot's owner must fetch the weights on the GPU machine (dreambot weights download NAME)"


class Channel:
    """Events out on the protocol stream, one JSON object per line, from any thread."""

    def __init__(self, stream: IO[str]) -> None:
        self._stream = stream
        self._lock = threading.Lock()

    def send(self, event: Event) -> None:
        line = json.dumps(event.to_dict())
        try:
            with self._lock:
                self._stream.write(line + "\n")
                self._stream.flush()
        except BrokenPipeError:  # the bot is gone: nobody is left to paint for
            log.info("the events pipe is closed; the engine stops")
            raise SystemExit(0) from None


def read_commands(stream: IO[str], jobs: queue.Queue, cancelled: set[str]) -> None:
    """Reader thread: renders go to ``jobs``; cancels are noted at once; end of input ends the process."""
    for line in stream:
        try:
            command = json.loads(line)
            op = command["op"]
        except (ValueError, KeyError, TypeError):
            log.error("ignoring a malformed command: %.200s", line)
            continue
        if op == "cancel":
            cancelled.add(command["job_id"])
        elif op in ("render", "render_batch", "warm"):
            jobs.put(command)
        else:
            log.error("ignoring unknown command %r", op)
    jobs.put(None)


def run_job(engine, command: dict[str, Any], channel: Channel, cancelled: set[str]) -> None:
    """One render command, of one job or a batch of them: every job in it ends with one final event."""
    entries = command["jobs"] if command["op"] == "render_batch" else [command]
    pending = [entry["job_id"] for entry in entries]  # jobs still owed their final event
    _reset_peak(engine)
    try:
        requests = [RenderRequest.from_dict(entry["request"]) for entry in entries]
        sends = [
            job_send(engine, channel, request, entry.get("concepts", []))
            for request, entry in zip(requests, entries, strict=True)
        ]
        video = bool(command.get("animation"))
        if len(entries) == 1:
            run = RUNS[requests[0].kind.name]
            sends[0](run(engine, pending[0], requests[0], sends[0], lambda: pending[0] in cancelled, video))
        else:
            jobs = list(zip(pending, requests, sends, strict=True))
            paint_batch(engine, jobs, channel, cancelled, video, pending)
        pending.clear()
    except JobCancelled as error:
        channel.send(Cancelled(pending[0], error.step))
        pending.clear()
    except OutOfMemory as error:
        _fail(channel, pending, without_paths(str(error)), OOM_HINT)
    except WeightsError as error:
        log.error("jobs %s: %s", ", ".join(pending), error)
        _fail(channel, pending, without_paths(str(error)), WEIGHTS_HINT)
    except (BadRequest, ValueError, TypeError) as error:
        _fail(channel, pending, _refused(error))
    except Exception as error:  # the jobs fail; the process and the queue go on
        log.error("jobs %s failed:\n%s", ", ".join(pending), traceback.format_exc())
        reason = f"the engine hit an internal error ({type(error).__name__}); the owner finds the details in its log"
        _fail(channel, pending, reason, retryable=True)
    finally:
        cancelled.difference_update(entry["job_id"] for entry in entries)
        _release_memory()


def job_send(engine, channel: Channel, request: RenderRequest, concepts: object) -> Send:
    """How one job's events go out: scored against its concepts (``engine/concepts.py``) when it has any, and its
    result with its image embedding, with the request's perceptor, or the default one for a job that paints without
    one (an upscale, a dream)."""
    from contract.concepts import check_concepts
    from engine.concepts import embedded, scored

    asked = check_concepts(concepts)
    scorer = lambda: engine.concept_scorer(request.perceptor)  # noqa: E731 (loaded at the first picture)
    return embedded(scored(measured(channel.send, engine), scorer, asked), scorer)


def measured(send: Send, engine) -> Send:
    """``send`` with the engine's peak memory added to the result, so the bot learns what jobs really take."""

    def send_measured(event: Event) -> None:
        if isinstance(event, Finished):
            event = dataclasses.replace(event, peak_gib=round(peak_memory(engine.device), 3))
        send(event)

    return send_measured


def peak_memory(device) -> float:
    """GiB at the peak: a GPU's allocations since the job began, or this process's resident memory so far."""
    import resource

    import torch

    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**30
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB on Linux


def warm(engine, command: dict[str, Any], channel: Channel) -> None:
    """Load the default generator and perceptor before the first job needs them, fetching their missing
    weights first when the command says so; ``downloading`` events tell the bot how far the fetch is,
    and ``warmed`` ends the command. A failure is said, logged, and said again by the first job it stops.
    The upscaler's and dreamer's weights then come in a thread of their own, beside the first jobs."""
    from contract.registry import perceptor_members

    start = time.perf_counter()
    names = [command["model"], *perceptor_members(command["perceptor"])]
    try:
        if command.get("download"):
            for name in names:
                _fetch_missing(engine, name, channel)
        engine.network(command["model"])
        engine.perceptor(command["perceptor"])
    except Exception as error:  # the engine goes on: jobs for other models may still run
        log.warning("could not load the default models yet: %s", error)  # the owner's log: paths in full
        channel.send(Warmed("", error=without_paths(str(error))))
    else:
        log.info("loaded %s and %s in %.1fs", command["model"], command["perceptor"], time.perf_counter() - start)
        channel.send(Warmed(""))
    if command.get("download") and command.get("also"):
        extras = threading.Thread(target=fetch_extras, args=(engine, command["also"], channel), name="fetch-extras")
        extras.daemon = True  # a stopping engine does not wait for a download
        extras.start()


def fetch_extras(engine, names: list[str], channel: Channel) -> None:
    """The missing weights of ``names``, each ended by a ``fetched`` event: the first Upscale or /deepdream
    finds them here, and a failure is said by that button when pressed; the pictures go on meanwhile."""
    for name in names:
        try:
            _fetch_missing(engine, name, channel)
        except Exception as error:
            log.warning("could not fetch the weights of %s: %s", name, error)
            channel.send(Fetched("", name, error=without_paths(str(error))))
        else:
            channel.send(Fetched("", name))


def _fetch_missing(engine, name: str, channel: Channel) -> None:
    from engine.weights import spec_for

    spec = spec_for(name)
    if spec.needs_weights and not spec.synthetic and engine.store.missing(spec):
        log.info("fetching the weights of %s, a default model", name)
        engine.store.download(spec, progress=False, on_file=partial(DownloadReport, name, channel))


class DownloadReport:
    """One file's download progress as ``downloading`` events: one per percent, or per second while its
    size is unknown."""

    def __init__(self, model: str, channel: Channel, file: str) -> None:
        self.model, self.file, self.channel = model, file, channel
        self.last: tuple[int | None, float] = (None, 0.0)

    def __call__(self, done: int, total: int | None) -> None:
        event = Downloading("", self.model, self.file, done, total or 0)
        now = time.monotonic()
        if event.percent != self.last[0] or (event.percent is None and now - self.last[1] >= 1):
            self.last = (event.percent, now)
            self.channel.send(event)


def _refused(error: Exception) -> str:
    return f"the request was refused: {without_paths(str(error))}"


def _fail(channel: Channel, job_ids: list[str], reason: str, hint: str = "", retryable: bool = False) -> None:
    for job_id in job_ids:
        channel.send(Failed(job_id, reason, hint, retryable))


class BatchMember:
    """One job of a batch: relays its progress, and says it is cancelled the moment the loop drops it,
    not when the whole batch ends (the bot would otherwise take the batch for a hung engine)."""

    def __init__(self, job_id: str, send: Send, cancelled: set[str]) -> None:
        self.job_id, self.send, self.cancelled = job_id, send, cancelled
        self.step = 0
        self.ended = False

    def progress(self, event: Progress) -> None:
        self.step = event.step
        self.send(event)

    def should_stop(self) -> bool:
        """Asked by the loop before each of this job's steps; a yes drops the job from the batch."""
        if self.job_id not in self.cancelled:
            return False
        if not self.ended:
            self.ended = True
            self.send(Cancelled(self.job_id, self.step))
        return True


def paint_batch(
    engine, jobs: list[tuple[str, RenderRequest, Send]], channel: Channel, cancelled: set[str], video: bool, pending: list[str]
) -> None:
    """Jobs that share a ``batch_key`` painted as one batch, each with its own progress, cancel and result.
    A job refused on its own, or cancelled before the start, ends at once; ``pending`` loses each job that ended."""
    from contract.validation import validate
    from engine.pipeline import RenderTask

    members, tasks = [], []
    for job_id, request, send in jobs:
        try:
            validate(request)
        except BadRequest as error:
            _fail(channel, [job_id], _refused(error))
            pending.remove(job_id)
            continue
        if job_id in cancelled:
            channel.send(Cancelled(job_id, 0))
            pending.remove(job_id)
            continue
        member = BatchMember(job_id, send, cancelled)
        members.append(member)
        tasks.append(RenderTask(request, member.progress, member.should_stop, job_id=job_id, video=video))
    if not tasks:
        return
    engine.load(tasks[0].request)
    for task in tasks:
        channel.send(Started(task.job_id, task.request.total_steps))
    for member, outcome in zip(members, engine.render_batch(tasks), strict=True):
        if not isinstance(outcome, JobCancelled):
            member.send(finished(member.job_id, outcome))
        pending.remove(member.job_id)


def next_command(jobs: queue.Queue, parent: int) -> dict[str, Any] | None:
    """The next command, or None when the input ends or the process that started the engine is gone
    (then nobody is left to send commands, even if its input pipe stays open elsewhere)."""
    while True:
        try:
            return jobs.get(timeout=PARENT_CHECK)
        except queue.Empty:
            if os.getppid() != parent:
                log.info("the bot that started this engine is gone; the engine stops")
                return None


def events_stream() -> IO[str]:
    """The stream events go to; descriptor 1 then points at stderr, so stray output from Python or C code
    (compile workers, CUDA libraries) lands in the log and never between two events."""
    fd = os.environ.get(EVENTS_FD_VARIABLE)
    stream = os.fdopen(int(fd), "w", encoding="utf-8") if fd else os.fdopen(os.dup(1), "w", encoding="utf-8")
    sys.stdout.flush()
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return stream


def _reset_peak(engine) -> None:
    import torch

    if getattr(engine, "device", None) is not None and engine.device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(engine.device)


def _release_memory() -> None:
    from engine.pipeline import free_memory  # the engine's own import: torch is loaded by the first job

    free_memory()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m engine.worker", description=__doc__)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--weights-dir", required=True)
    parser.add_argument("--speed", default=DEFAULT_SPEED, help="fast, plain, or either with +SWITCH/-SWITCH (contract/speed.py)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    logging.getLogger("engine").setLevel(logging.INFO)
    channel = Channel(events_stream())

    from pathlib import Path

    from engine.pipeline import Engine
    from engine.weights import WeightStore

    engine = Engine(WeightStore(Path(args.weights_dir)), args.device, args.speed)
    jobs: queue.Queue = queue.Queue()
    cancelled: set[str] = set()
    parent = int(os.environ.get(BOT_PID_VARIABLE) or os.getppid())
    threading.Thread(target=read_commands, args=(sys.stdin, jobs, cancelled), daemon=True).start()
    from engine.models import device_memory

    channel.send(Ready("", str(engine.device), round(device_memory(engine.device), 2)))
    log.info("engine ready on %s (speed: %s)", engine.device, engine.speed)
    while (command := next_command(jobs, parent)) is not None:
        if command["op"] == "warm":
            warm(engine, command, channel)
            continue
        if command["op"] == "render" and command["job_id"] in cancelled:
            cancelled.discard(command["job_id"])
            channel.send(Cancelled(command["job_id"], 0))
            continue
        run_job(engine, command, channel, cancelled)
    return 0


if __name__ == "__main__":
    # Every result is written and closed before its event is sent, so nothing is left to clean up: skipping
    # the interpreter's teardown (0.9 s with torch loaded) lets the bot stop or restart an engine at once.
    code = main()
    logging.shutdown()
    os._exit(code)
