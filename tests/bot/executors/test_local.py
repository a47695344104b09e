"""The engine supervisor against the real engine process, and against processes that misbehave."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from bot.config import EngineConfig
from bot.executors.local import EngineCommand, EngineSupervisor
from bot.queue.executor import EngineCrashed
from contract.protocol import Cancelled, Finished, Progress, RenderRequest
from tests.support import forked_engine as forked
from tests.support.processes import ROOT
from tests.support.waiting import PATIENCE, until

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


@pytest.mark.parametrize(
    ("warm", "logged"),
    [
        (("tiny-vqgan", "tiny-clip"), "loaded tiny-vqgan and tiny-clip in"),
        (("vqgan-imagenet-f16-1024", "tiny-clip"), "could not load the default models yet: weights for vqgan-imagenet-f16-1024"),
    ],
)
async def test_a_fresh_engine_loads_the_default_models_before_any_job(weights_dir, capfd, warm, logged):
    """At the bot's start (and every restart) the engine loads the defaults; missing weights only log."""
    supervisor = EngineSupervisor(EngineCommand("cpu", str(weights_dir)).argv(), warm=warm)
    try:
        await supervisor.prestart()
        assert supervisor.running(), "started before any job"
        assert isinstance((await events(supervisor, "after"))[-1], Finished)
    finally:
        await supervisor.stop()
    assert logged in capfd.readouterr().err


def stand_in(script: str) -> list[str]:
    return [sys.executable, "-c", script]


# A stand-in engine: ``emit`` writes one event on the descriptor the supervisor gives it.
EMIT = (
    "import json, os, sys, time; events = os.fdopen(int(os.environ['DREAMBOT_EVENTS_FD']), 'w'); "
    "emit = lambda event: (events.write(json.dumps(event) + '\\n'), events.flush()); "
)
READY = EMIT + "emit({'kind': 'ready', 'job_id': '', 'device': 'fake'}); "


async def test_a_process_that_exits_is_a_crash():
    supervisor = EngineSupervisor(stand_in("import sys; sys.exit(3)"))
    with pytest.raises(EngineCrashed, match="exited with code 3"):
        await events(supervisor, "j1")


async def test_an_engine_that_never_gets_ready_is_stopped():
    supervisor = EngineSupervisor(stand_in("import time; time.sleep(60)"), ready_timeout=0.5)
    with pytest.raises(EngineCrashed, match="did not report ready"):
        await events(supervisor, "j1")
    assert not supervisor.running()


async def test_an_engine_stopped_before_it_is_ready_is_terminated_at_once():
    """Still importing, an engine reads no input: closing it and waiting the grace would only make the bot wait."""
    supervisor = EngineSupervisor(stand_in("import time; time.sleep(60)"))
    starting = asyncio.create_task(supervisor.prestart())
    await until(supervisor.running)
    async with asyncio.timeout(10):  # far below the grace: the stand-in never reads its input
        await supervisor.stop(grace=30)
    assert not supervisor.running()
    with pytest.raises(EngineCrashed):
        await starting


async def test_a_fetch_beside_the_jobs_is_followed_between_them_and_held_against_the_jobs_that_need_it():
    """The upscaler's fetch reports while no job runs, and only requests for it wait for it; a stopped engine's
    fetch is over."""
    script = READY + (
        "sys.stdin.readline(); emit({'kind': 'warmed', 'job_id': ''}); "
        "emit({'kind': 'downloading', 'job_id': '', 'name': 'realesrgan-x4plus', 'file': 'a.pth', 'done': 5, 'total': 10}); "
        "sys.stdin.readline(); emit({'kind': 'fetched', 'job_id': '', 'name': 'realesrgan-x4plus'}); sys.stdin.readline()"
    )
    upscale = RenderRequest("", model="realesrgan-x4plus", init_image="a.png")
    supervisor = EngineSupervisor(stand_in(script), warm=("tiny-vqgan", "tiny-clip"), download=True, also=["realesrgan-x4plus"])
    try:
        await supervisor.prestart()
        await until(lambda: supervisor.fetching(upscale) is not None)  # no job runs: the supervisor reads on
        assert supervisor.fetching(upscale).percent == 50 and supervisor.fetching(REQUEST) is None
        await supervisor.cancel("nudge")  # any line on its input: the stand-in sends the end of the fetch
        await until(lambda: supervisor.fetching(upscale) is None)
        assert supervisor.fetches == {}
    finally:
        await supervisor.stop()


async def test_garbled_lines_and_other_jobs_events_are_skipped():
    script = READY + (
        "sys.stdin.readline(); events.write('garbage\\n'); "
        "emit({'kind': 'cancelled', 'job_id': 'other', 'step': 0}); "
        "emit({'kind': 'cancelled', 'job_id': 'j1', 'step': 2}); sys.stdin.readline()"
    )
    supervisor = EngineSupervisor(stand_in(script))
    try:
        got = await events(supervisor, "j1")
        assert got == [Cancelled("j1", 2)] and supervisor.device == "fake"
    finally:
        await supervisor.stop()


async def test_the_engine_inherits_no_secrets(monkeypatch):
    monkeypatch.setenv("DISCORD_TOKEN", "a-real-token")
    monkeypatch.setenv("HF_TOKEN", "another")
    monkeypatch.setenv("DREAMBOT_TEST_VISIBLE", "yes")
    script = EMIT + (
        "seen = sorted(k for k in os.environ if k in ('DISCORD_TOKEN', 'HF_TOKEN', 'DREAMBOT_TEST_VISIBLE')); "
        "emit({'kind': 'ready', 'job_id': '', 'device': ','.join(seen)}); sys.stdin.readline()"
    )
    supervisor = EngineSupervisor(stand_in(script))
    try:
        await supervisor.start()
        assert supervisor.device == "DREAMBOT_TEST_VISIBLE"
    finally:
        await supervisor.stop()


async def test_the_engine_works_in_a_folder_of_its_own_and_reads_its_pictures_there(monkeypatch, tmp_path):
    """Not beside the bot's .env (the token's file); the pictures a job names reach it by absolute paths."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("DISCORD_TOKEN=a-real-token\n")
    (tmp_path / "init.png").write_bytes(b"a picture")
    script = EMIT + (
        "where = os.getcwd() + ('/.env' if os.path.exists('.env') else ''); "
        "emit({'kind': 'ready', 'job_id': '', 'device': where}); "
        "asked = json.loads(sys.stdin.readline())['request']; "
        "emit({'kind': 'failed', 'job_id': 'j1', 'reason': open(asked['init_image']).read()}); sys.stdin.readline()"
    )
    supervisor = EngineSupervisor(stand_in(script))
    try:
        got = [event async for event in supervisor.render("j1", RenderRequest("x", init_image="init.png"))]
        assert Path(supervisor.device).is_dir() and not Path(supervisor.device).samefile(tmp_path)
        assert not list(Path(supervisor.device).iterdir()) and got[-1].reason == "a picture"
    finally:
        await supervisor.stop()


def test_the_bot_hides_its_memory_and_environment_from_its_children(tmp_path):
    """PR_SET_DUMPABLE 0: a child of the bot (not root) cannot read /proc/<bot>/environ, where the token lives."""
    code = (
        "import ctypes, os, subprocess, sys; from bot.runner import undumpable; undumpable(); "
        "print(ctypes.CDLL(None).prctl(3, 0, 0, 0, 0)); "
        'child = \'import os; open(f"/proc/{os.getppid()}/environ").read(); print("read")\'; '
        "subprocess.run([sys.executable, '-c', child], stderr=subprocess.DEVNULL)"
    )
    env = {**os.environ, "DISCORD_TOKEN": "a-real-token"}
    shown = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=ROOT).stdout.split()
    assert shown[0] == "0", "the bot is not dumpable"
    assert shown[1:] == (["read"] if os.geteuid() == 0 else []), "only root reads it"


async def test_output_on_descriptor_1_never_reaches_the_events(weights_dir):
    """A library that writes to descriptor 1 (here: a thread, every millisecond, no newline) cannot corrupt an event."""
    noisy = (
        "import os, runpy, sys, threading, time\n"
        "def noise():\n"
        "    while True:\n"
        "        os.write(1, b'noise')\n"
        "        time.sleep(0.001)\n"
        "threading.Thread(target=noise, daemon=True).start()\n"
        "sys.argv = ['engine.worker', *sys.argv[1:]]\n"
        "runpy.run_module('engine.worker', run_name='__main__')\n"
    )
    argv = EngineCommand("cpu", str(weights_dir)).argv()
    supervisor = EngineSupervisor([argv[0], "-c", noisy, *argv[3:]])
    try:
        done = await asyncio.wait_for(events(supervisor, "j1"), PATIENCE)
        assert [e.kind for e in done] == ["started", "progress", "progress", "progress", "progress", "finished"]
    finally:
        await supervisor.stop()


async def test_a_hung_engine_is_killed_and_the_job_reported():
    script = READY + "sys.stdin.readline(); emit({'kind': 'started', 'job_id': 'j1', 'total_steps': 4}); time.sleep(60)"
    supervisor = EngineSupervisor(stand_in(script), stall_timeout=1.0)
    started = asyncio.get_running_loop().time()
    got = []
    with pytest.raises(EngineCrashed, match="sent nothing for 1s"):
        async for event in supervisor.render("j1", REQUEST):
            got.append(event.kind)
    assert got == ["started"] and asyncio.get_running_loop().time() - started < 30, "long before the script's 60 s sleep"
    assert not supervisor.running()


async def test_a_cancelled_job_that_does_not_stop_ends_with_its_engine():
    script = READY + (
        "sys.stdin.readline(); emit({'kind': 'started', 'job_id': 'j1', 'total_steps': 1000}); step = 0\n"
        "while True:\n"
        "    step += 1; emit({'kind': 'progress', 'job_id': 'j1', 'step': step, 'total_steps': 1000}); time.sleep(0.05)"
    )
    supervisor = EngineSupervisor(stand_in(script), stall_timeout=30.0, cancel_grace=0.5)
    with pytest.raises(EngineCrashed, match="did not stop the cancelled job within 0.5s"):
        async for event in supervisor.render("j1", REQUEST):
            if event.kind == "started":
                await supervisor.cancel("j1")
    assert not supervisor.running()


async def test_a_job_cancelled_while_it_waits_never_reaches_the_engine():
    """An engine reads a render before a cancel sent after it, and may start the job in between: so the
    supervisor never sends a job cancelled while it waited. This engine paints whatever it is sent."""
    script = READY + (
        "line = sys.stdin.readline()\n"
        "while line:\n"
        "    job = json.loads(line)\n"
        "    if job['op'] == 'render':\n"
        "        emit({'kind': 'started', 'job_id': job['job_id'], 'total_steps': 1})\n"
        "        emit({'kind': 'finished', 'job_id': job['job_id'], 'png': '', 'seconds': 0.0, 'losses': [], 'animation': ''})\n"
        "    line = sys.stdin.readline()\n"
    )
    supervisor = EngineSupervisor(stand_in(script), stall_timeout=10.0)
    try:
        await supervisor.start()
        await supervisor.cancel("waiting")
        assert await events(supervisor, "waiting") == [Cancelled("waiting", 0)]
        assert [e.kind for e in await events(supervisor, "next")] == ["started", "finished"]
    finally:
        await supervisor.stop()


async def test_the_tests_engine_zygote_outlives_clients_lost_at_any_moment(zygote, weights_dir):
    """tests/support/forked_engine.py: a client that dies before or while its engine is handed over (a bot stopped
    at once) must not end the zygote, or every later test of the stream waits for an engine that never comes."""
    lost = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    lost.connect(str(zygote))
    lost.close()  # connected, sent nothing
    command = forked.command(zygote, EngineConfig(device="cpu", weights_dir=str(weights_dir)))
    for _ in range(5):  # stopped before ready: the client is terminated at once, at whatever point it is
        quick = EngineSupervisor(command)
        starting = asyncio.create_task(quick.prestart())
        await until(quick.running)
        await quick.stop()
        with contextlib.suppress(EngineCrashed):
            await starting
    supervisor = EngineSupervisor(command)
    try:
        assert isinstance((await events(supervisor, "j1"))[-1], Finished)
    finally:
        await supervisor.stop()
