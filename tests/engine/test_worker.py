"""The engine process's job runner: every outcome becomes exactly one final event."""

from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import subprocess
import sys
import time

from contract.errors import BadRequest, JobCancelled, OutOfMemory, WeightsError
from contract.protocol import Event, Progress, RenderRequest, render_command
from engine.worker import OOM_HINT, Channel, read_commands, run_job


class StandIn:
    """Plays the engine's part: ``render`` raises ``error`` after one progress event."""

    def __init__(self, error: Exception) -> None:
        self.error = error

    def load(self, request: RenderRequest) -> None:
        pass

    def render(self, request, on_progress, should_stop, video, job_id):
        on_progress(Progress(job_id, 1, request.steps, 0.5, 0.1))
        raise self.error


def events_of(error: Exception, cancelled: set[str] | None = None) -> list[Event]:
    stream = io.StringIO()
    run_job(StandIn(error), render_command("j1", RenderRequest("x", steps=4)), Channel(stream), cancelled or set())
    return [Event.from_dict(json.loads(line)) for line in stream.getvalue().splitlines()]


def test_out_of_memory_fails_with_a_hint():
    events = events_of(OutOfMemory("the cuda device ran out of memory rendering 512x512"))
    assert [e.kind for e in events] == ["started", "progress", "failed"]
    assert "ran out of memory" in events[-1].reason and events[-1].hint == OOM_HINT and not events[-1].retryable


def test_other_outcomes():
    assert events_of(WeightsError("weights missing"))[-1].hint.startswith("the bot's owner")
    assert "refused" in events_of(BadRequest("bad size"))[-1].reason
    crash = events_of(RuntimeError("CUDA error: an illegal memory access at /opt/app/kernels.cu"))[-1]
    assert crash.kind == "failed" and crash.retryable and "RuntimeError" in crash.reason
    assert "illegal memory" not in crash.reason, "exception texts go to the log, not to the channel"
    cancelled = set()
    stopped = events_of(JobCancelled("cancelled after 3 of 4 steps", 3), cancelled)[-1]
    assert stopped.kind == "cancelled" and stopped.step == 3 and not cancelled


def test_no_path_of_the_owners_machine_reaches_a_reason():
    missing = events_of(WeightsError("weights for x are missing: /root/.cache/dreambot/weights/x/last.ckpt not found"))[-1]
    assert missing.reason == "weights for x are missing: last.ckpt not found"
    refused = events_of(BadRequest("image '/srv/dreambot-files/ab12/init.png' does not exist"))[-1]
    assert refused.reason == "the request was refused: image 'init.png' does not exist"


def test_commands_are_read_while_a_job_runs():
    import queue

    jobs: queue.Queue = queue.Queue()
    cancelled: set[str] = set()
    lines = [json.dumps(render_command("j1", RenderRequest("x"))), "not json", json.dumps({"op": "cancel", "job_id": "j1"})]
    read_commands(io.StringIO("\n".join(lines) + "\n"), jobs, cancelled)
    assert jobs.get_nowait()["job_id"] == "j1" and jobs.get_nowait() is None
    assert cancelled == {"j1"}


def test_an_idle_engine_stops_when_the_bot_that_started_it_is_gone(weights_dir, tmp_path):
    """Its input pipe may stay open in another process; the engine still must not outlive the bot."""
    read_end, write_end = os.pipe()  # held open here: the engine never sees the end of its input
    launcher = (  # plays the bot: starts the engine as the supervisor does, then dies at once
        "import os, subprocess, sys\n"
        f"argv = [sys.executable, '-m', 'engine.worker', '--device', 'cpu', '--weights-dir', {str(weights_dir)!r}]\n"
        "env = {**os.environ, 'DREAMBOT_BOT_PID': str(os.getpid())}\n"
        f"engine = subprocess.Popen(argv, stdin={read_end}, stdout=subprocess.DEVNULL, pass_fds=({read_end},), env=env)\n"
        "print(engine.pid, flush=True)\n"
    )
    launched = subprocess.run([sys.executable, "-c", launcher], capture_output=True, text=True, timeout=60, pass_fds=(read_end,))
    os.close(read_end)
    pid = int(launched.stdout)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.5)
        else:
            raise AssertionError("the engine outlived the bot by a minute")
    finally:
        os.close(write_end)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def test_a_default_model_that_cannot_load_is_logged_with_its_path_and_told_to_the_bot_without(tmp_path, caplog):
    from contract.protocol import warm_command
    from engine.weights import WeightStore, spec_for
    from engine.worker import warm

    class Missing:
        """An engine whose default generator's files are not there."""

        store = WeightStore(tmp_path)

        def network(self, name: str) -> None:
            self.store.ensure(spec_for(name))

    stream = io.StringIO()
    with caplog.at_level("WARNING", logger="engine.worker"):
        warm(Missing(), warm_command("vqgan-imagenet-f16-16384", "tiny-clip", False), Channel(stream))
    [event] = [Event.from_dict(json.loads(line)) for line in stream.getvalue().splitlines()]
    folder = tmp_path / "vqgan-imagenet-f16-16384"
    assert f"(looked in {folder})" in caplog.text, "the owner's log says where to put the files"
    assert str(tmp_path) not in event.error and "model.yaml, last.ckpt not found" in event.error
