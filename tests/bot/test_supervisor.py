"""The engine supervisor against the real engine process, and against processes that misbehave."""

from __future__ import annotations

import sys

import pytest

from bot.supervisor import EngineCommand, EngineCrashed, EngineSupervisor
from contract.protocol import Cancelled, Finished, Progress, RenderRequest

REQUEST = RenderRequest("a fairy", model="tiny-vqgan", perceptor="tiny-clip", width=32, height=32, steps=4, preview_every=2)


async def events(supervisor: EngineSupervisor, job_id: str, request: RenderRequest = REQUEST) -> list:
    return [event async for event in supervisor.render(job_id, request)]


async def test_jobs_run_one_after_another_and_a_cancel_before_the_engine_is_up_is_kept(weights_dir):
    supervisor = EngineSupervisor(EngineCommand("cpu", str(weights_dir)).argv())
    try:
        await supervisor.cancel("early")  # the engine is not even started yet
        assert [e.kind for e in await events(supervisor, "early")] == ["cancelled"]
        done = await events(supervisor, "j2")
        assert [e.kind for e in done] == ["started", "progress", "progress", "progress", "progress", "finished"]
        assert all(e.job_id == "j2" for e in done) and supervisor.device == "cpu"
        assert [e.preview is not None for e in done if isinstance(e, Progress)] == [False, True, False, True]
        assert isinstance(done[-1], Finished) and done[-1].png.startswith(b"\x89PNG") and len(done[-1].losses) == 4
        first_pid = supervisor.pid
        assert isinstance((await events(supervisor, "j3"))[-1], Finished) and supervisor.pid == first_pid
    finally:
        await supervisor.stop()
    assert not supervisor.running()


def stand_in(script: str) -> list[str]:
    return [sys.executable, "-c", script]


READY = "import json,sys; print(json.dumps({'kind': 'ready', 'job_id': '', 'device': 'fake'}), flush=True); "


async def test_a_process_that_exits_is_a_crash():
    supervisor = EngineSupervisor(stand_in("import sys; sys.exit(3)"))
    with pytest.raises(EngineCrashed, match="exited with code 3"):
        await events(supervisor, "j1")


async def test_an_engine_that_never_gets_ready_is_stopped():
    supervisor = EngineSupervisor(stand_in("import time; time.sleep(60)"), ready_timeout=0.5)
    with pytest.raises(EngineCrashed, match="did not report ready"):
        await events(supervisor, "j1")
    assert not supervisor.running()


async def test_garbled_lines_and_other_jobs_events_are_skipped():
    script = READY + (
        "sys.stdin.readline(); print('garbage', flush=True); "
        "print(json.dumps({'kind': 'cancelled', 'job_id': 'other', 'step': 0}), flush=True); "
        "print(json.dumps({'kind': 'cancelled', 'job_id': 'j1', 'step': 2}), flush=True); sys.stdin.readline()"
    )
    supervisor = EngineSupervisor(stand_in(script))
    try:
        got = await events(supervisor, "j1")
        assert got == [Cancelled("j1", 2)] and supervisor.device == "fake"
    finally:
        await supervisor.stop()
