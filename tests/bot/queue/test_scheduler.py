"""The scheduler, through the running bot: the engine is a separate process, a crash retries the job
once on a fresh engine, a second crash fails it and the queue goes on; a restart of the bot loses no job."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import errno
import os
import signal
import sqlite3
from collections.abc import Sequence
from pathlib import Path

import pytest

from bot.queue import scheduler as scheduler_module
from bot.queue.executor import EngineCrashed
from bot.queue.files import JobFiles
from bot.queue.jobs import Job, JobState
from bot.queue.scheduler import Scheduler
from bot.queue.store import Store
from contract.protocol import Cancelled, Failed, Finished, Progress, RenderRequest
from tests.support.discord_bot import dream, job_id_of, option, running_bot
from tests.support.discord_emulator import Member
from tests.support.waiting import PATIENCE


async def queue(emulator, prompt: str, steps: int, member: Member | None = None) -> str:
    return job_id_of((await dream(emulator, prompt, option("steps", steps, 4), member=member))[1])


async def mid_job(emulator, job: str, title: str = "Painting") -> dict:
    """Wait until the engine reports steps of ``job`` (its message shows a Step field)."""

    def stepping():
        message = emulator.job_message(job)
        embed = message["embeds"][0] if message else {}
        return title in embed.get("title", "") and any(f["name"] == "Step" for f in embed.get("fields", [])) and message

    return await emulator.wait_for(stepping)


async def test_a_dead_engine_is_restarted_and_the_job_retried_once(real_bot, emulator):
    bot = real_bot
    job = await queue(emulator, "a phoenix", 80)
    await mid_job(emulator, job)
    first_engine = bot.supervisor.pid
    os.kill(first_engine, signal.SIGKILL)
    await emulator.wait_title(job, "second try")
    message = await emulator.wait_title(job, "Done")
    assert bot.supervisor.pid != first_engine
    stored = await bot.store.job(job)
    assert stored.state == "done" and stored.attempts == 2 and stored.message_id == int(message["id"])


async def test_a_second_crash_fails_the_job_and_the_queue_goes_on(real_bot, emulator):
    bot = real_bot
    doomed = await queue(emulator, "a doomed ship", 1000, Member(emulator.snowflake(), "alice"))
    after = await queue(emulator, "a calm sea", 6, Member(emulator.snowflake(), "bob"))
    await mid_job(emulator, doomed)
    os.kill(bot.supervisor.pid, signal.SIGKILL)
    await mid_job(emulator, doomed, "second try")
    os.kill(bot.supervisor.pid, signal.SIGKILL)
    failed = await emulator.wait_title(doomed, "Failed")
    why = {f["name"]: f["value"] for f in failed["embeds"][0]["fields"]}["Why"]
    assert "stopped unexpectedly twice" in why and "-9" in why
    assert (await bot.store.job(doomed)).state == "failed"
    await emulator.wait_title(after, "Done")


async def test_jobs_survive_a_restart_and_old_results_still_react(config, emulator, forked_engine):
    alice, bob = Member(emulator.snowflake(), "alice"), Member(emulator.snowflake(), "bob")
    async with running_bot(config, emulator, forked_engine(config)):
        finished = await queue(emulator, "an old result", 6, alice)
        result = await emulator.wait_title(finished, "Done")
        interrupted = await queue(emulator, "an interrupted dream", 60, alice)
        waiting = await queue(emulator, "a waiting dream", 6, bob)
        painting = await emulator.wait_title(interrupted, "Painting")
    async with running_bot(config, emulator, forked_engine(config)) as bot:
        assert (await bot.store.job(interrupted)).state in ("queued", "running")
        done = await emulator.wait_title(interrupted, "Done")
        assert done["id"] == painting["id"], "the restarted job keeps its message"
        await emulator.wait_title(waiting, "Done")

        await emulator.react(int(result["id"]), "🔁", bob)
        await emulator.wait_for(lambda: len([m for m in emulator.channel_messages() if m["embeds"]
                                             and m["embeds"][0]["description"] == "an old result"]) == 2, 30)  # fmt: skip
        clicked = await emulator.click(int(result["id"]), f"dream:gif:{finished}", bob)
        await emulator.wait_for(lambda: emulator.reply_text(clicked))
        assert any(name.endswith(".mp4") for name, _ in emulator.interaction_replies(clicked)[0].files.values())


async def test_an_engine_failure_reaches_the_member_with_what_to_do(bot, emulator):
    options = [option("prompt", "a real picture"), option("model", "vqgan-imagenet-f16-1024"), option("size", "32x32")]
    interaction = await emulator.slash("dream", options)  # a model whose weights the owner has not fetched
    job = job_id_of(await emulator.wait_for(lambda: emulator.reply_text(interaction)))
    failed = await emulator.wait_title(job, "Failed")
    fields = {f["name"]: f["value"] for f in failed["embeds"][0]["fields"]}
    assert "weights for vqgan-imagenet-f16-1024 are missing" in fields["Why"]
    assert "dreambot weights download" in fields["Try"]
    stored = await bot.store.job(job)
    assert stored.state == "failed" and stored.attempts == 1, "a failure the engine explains is not retried"


# The scheduler alone, with a real store, a stand-in engine and a reporter that takes notes.


class StandInEngine:
    """Plays a script of events per attempt; counts starts and stops like the supervisor's."""

    def __init__(self, *attempts: list) -> None:
        self.attempts = list(attempts)
        self.renders: list[str] = []
        self.stops = 0

    async def render(self, job_id: str, request: RenderRequest, concepts=()):
        self.renders.append(job_id)
        script = self.attempts.pop(0) if self.attempts else [Finished(job_id, b"\x89PNG-fake", 1.0, (0.5,))]
        for event in script:
            if isinstance(event, Exception):  # the engine dies here
                raise event
            yield dataclasses.replace(event, job_id=job_id)

    def can_take(self, job_id: str, request: RenderRequest, running: int) -> bool:
        return running == 0

    def batch_limit(self) -> int:
        return 1

    async def reset(self) -> None:
        self.stops += 1

    async def stop(self) -> None:
        self.stops += 1

    async def cancel(self, job_id: str) -> None:
        pass


class NoteTaker:
    def __init__(self, store: Store) -> None:
        self.store = store
        self.notes: list[tuple[str, str]] = []
        self.films: dict[str, bytes | None] = {}  # the film each result was posted with
        self.hints: dict[str, str] = {}
        self.posted: dict[str, tuple[bytes, tuple[bytes, ...]]] = {}  # each result's picture and candidates
        self.steps: list[tuple[str, int]] = []  # (job, step) of each progress reported
        self.orders: list[list[str]] = []  # the waiting jobs each time the queue moved

    async def started(self, job: Job) -> None:
        self.notes.append(("started", job.id))

    async def progress(self, job: Job, event) -> None:
        self.steps.append((job.id, event.step))

    async def finished(
        self, job: Job, png: bytes, film: bytes | None = None, candidates: Sequence[bytes] = (), scores=None, description=None
    ) -> None:
        self.notes.append(("finished", job.id))
        self.films[job.id] = film
        self.posted[job.id] = (png, tuple(candidates))
        await self.store.mark_shown(job.id, job.state)

    async def failed(self, job: Job, reason: str, hint: str) -> None:
        self.notes.append(("failed", f"{job.id}: {reason}"))
        self.hints[job.id] = hint
        await self.store.mark_shown(job.id, job.state)

    async def cancelled(self, job: Job) -> None:
        self.notes.append(("cancelled", job.id))
        await self.store.mark_shown(job.id, job.state)

    async def queue_moved(self, order: list[Job]) -> None:
        self.orders.append([job.id for job in order])

    async def heard(self, kinds: set[str], count: int) -> None:
        """Until ``count`` notes of these kinds are taken: a job's state is written before its reporter hears of it,
        so a test that saw the state must wait here before it reads the notes."""
        async with asyncio.timeout(PATIENCE):
            while sum(kind in kinds for kind, _ in self.notes) < count:
                await asyncio.sleep(0.02)


def a_job(job_id: str, user: int = 1) -> Job:
    return Job(job_id, 10, 20, user, f"member{user}", RenderRequest("a castle", seed=1))


@contextlib.asynccontextmanager
async def scheduling(tmp_path, engine: StandInEngine, store: Store | None = None):
    store = store or await Store.open(tmp_path / "d.sqlite3")
    reporter = NoteTaker(store)
    scheduler = Scheduler(store, engine, reporter, JobFiles(tmp_path / "files"))
    task = asyncio.create_task(scheduler.run())
    try:
        yield scheduler, store, reporter
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await store.close()


async def state_of(store: Store, job_id: str, state: str, timeout: float = PATIENCE) -> Job:
    async def wait() -> Job:
        while (job := await store.job(job_id)).state != state:
            await asyncio.sleep(0.02)
        return job

    return await asyncio.wait_for(wait(), timeout)


async def ended(store: Store, job_id: str, timeout: float = PATIENCE) -> Job:
    """The job once it has ended, whichever way: a test that expects one outcome fails at once on another."""

    async def wait() -> Job:
        while (job := await store.job(job_id)).state not in (JobState.DONE, JobState.FAILED, JobState.CANCELLED):
            await asyncio.sleep(0.02)
        return job

    return await asyncio.wait_for(wait(), timeout)


@pytest.fixture
def quick_backoff(monkeypatch):
    monkeypatch.setattr(scheduler_module, "FIRST_BACKOFF", 0.05)


class CrashingBatches(StandInEngine):
    """Runs batches of two; the first batch finishes its first job, then the engine dies."""

    def __init__(self) -> None:
        super().__init__()
        self.batches: list[list[str]] = []

    def batch_limit(self) -> int:
        return 2

    async def render_batch(self, jobs, concepts=None):
        self.batches.append([job_id for job_id, _ in jobs])
        yield Finished(jobs[0][0], b"\x89PNG-fake", 1.0, (0.5,))
        if len(self.batches) == 1:
            raise EngineCrashed("the engine process exited with code -9")
        yield Finished(jobs[1][0], b"\x89PNG-fake", 1.0, (0.5,))


async def test_a_batch_whose_engine_dies_retries_only_its_unfinished_jobs_alone(tmp_path):
    engine = CrashingBatches()
    store = await Store.open(tmp_path / "d.sqlite3")
    for job_id, user in (("aa", 1), ("bb", 2), ("cc", 3)):  # all waiting before the scheduler looks: no race
        await store.add_job(a_job(job_id, user))
    async with scheduling(tmp_path, engine, store) as (_scheduler, store, reporter):
        for job_id in ("aa", "bb", "cc"):
            await state_of(store, job_id, "done")
        await reporter.heard({"finished"}, 3)
        assert (await store.job("aa")).attempts == 1 and (await store.job("bb")).attempts == 2
    assert engine.batches == [["aa", "bb"]], "the limit is 2: cc waits for the next turn"
    assert engine.renders == ["bb", "cc"], "bb retried alone, at once, ahead of cc"
    assert engine.stops == 1
    assert [n for n in reporter.notes if n[0] == "finished"] == [("finished", j) for j in ("aa", "bb", "cc")]


async def test_the_queue_survives_a_locked_database_and_recovers_by_itself(tmp_path, quick_backoff, caplog):
    async with scheduling(tmp_path, StandInEngine()) as (scheduler, store, reporter):
        locked = 3
        real_queued = store.queued

        async def queued():
            nonlocal locked
            if locked:
                locked -= 1
                raise sqlite3.OperationalError("database is locked")
            return await real_queued()

        store.queued = queued
        await store.add_job(a_job("aa"))
        scheduler.wake()
        await state_of(store, "aa", "done")
        await reporter.heard({"finished"}, 1)
        assert locked == 0 and ("finished", "aa") in reporter.notes
        assert caplog.text.count("the queue hit an error") == 3


async def test_a_full_disk_fails_the_job_and_the_next_one_runs(tmp_path, quick_backoff, monkeypatch):
    async with scheduling(tmp_path, StandInEngine()) as (scheduler, store, _reporter):
        real_write, full = JobFiles.write, [True]

        async def write(self, path, data):
            if full[0]:
                raise OSError(errno.ENOSPC, "No space left on device")
            return await real_write(self, path, data)

        monkeypatch.setattr(JobFiles, "write", write)
        await store.add_job(a_job("aa"))
        scheduler.wake()
        failed = await state_of(store, "aa", "failed")
        assert failed.error == "the bot could not save the picture (No space left on device)"
        full[0] = False
        await store.add_job(a_job("bb"))
        scheduler.wake()
        await state_of(store, "bb", "done")


async def test_an_error_while_failing_a_job_does_not_stop_the_queue(tmp_path, quick_backoff):
    engine = StandInEngine([Failed("", "the request was refused: nope")])
    async with scheduling(tmp_path, engine) as (scheduler, store, _reporter):
        real_finish, broken = store.finish, [1]

        async def finish(job_id, state, **kwargs):
            if broken[0]:
                broken[0] -= 1
                raise sqlite3.OperationalError("disk I/O error")
            return await real_finish(job_id, state, **kwargs)

        store.finish = finish
        await store.add_job(a_job("aa"))
        await store.add_job(a_job("bb", user=2))
        scheduler.wake()
        await state_of(store, "bb", "done")
        assert (await store.job("aa")).state in ("failed", "done"), "the job whose failure could not be written ends too"


async def test_a_retryable_failure_is_retried_on_a_fresh_engine(tmp_path):
    engine = StandInEngine([Failed("", "CUDA error: an illegal memory access", retryable=True)])
    async with scheduling(tmp_path, engine) as (scheduler, store, _reporter):
        await store.add_job(a_job("aa"))
        scheduler.wake()
        done = await state_of(store, "aa", "done")
        assert engine.renders == ["aa", "aa"] and engine.stops == 1 and done.attempts == 2


async def test_a_job_that_stopped_the_bot_twice_is_failed_not_run_again(tmp_path):
    store = await Store.open(tmp_path / "d.sqlite3")
    await store.add_job(a_job("poison"))
    await store.add_job(a_job("fine", user=2))
    for _ in range(2):  # two starts of the bot that died while painting it
        await store.requeue_running()
        await store.claim("poison")
    engine = StandInEngine()
    async with scheduling(tmp_path, engine, store) as (_scheduler, store, _reporter):
        failed = await state_of(store, "poison", "failed")
        await state_of(store, "fine", "done")
        assert "stopped the bot 2 times" in failed.error and engine.renders == ["fine"]


async def test_outcomes_the_channel_never_saw_are_shown_at_start(tmp_path):
    store = await Store.open(tmp_path / "d.sqlite3")
    for job_id in ("done", "lost", "failed", "shown"):
        await store.add_job(a_job(job_id))
    await JobFiles(tmp_path / "files").write(JobFiles(tmp_path / "files").result("done"), b"\x89PNG-fake")
    await store.finish("done", JobState.DONE)  # the bot stopped before Discord heard of these
    await store.finish("lost", JobState.DONE)  # ... and this one's picture is gone too
    await store.finish("failed", JobState.FAILED, error="out of memory")
    await store.finish("shown", JobState.CANCELLED)
    await store.mark_shown("shown", JobState.CANCELLED)
    async with scheduling(tmp_path, StandInEngine(), store) as (_scheduler, store, reporter):
        await state_of(store, "lost", "failed")
        await reporter.heard({"finished", "failed"}, 3)
        await asyncio.sleep(0.2)  # not a wait for the work: the time a fourth, wrong note would take to come
        assert sorted(reporter.notes) == [
            ("failed", "failed: out of memory"),
            ("failed", "lost: the finished picture was lost before it was posted"),
            ("finished", "done"),
        ]
        async with asyncio.timeout(PATIENCE):  # each outcome is marked shown just after its note
            while await store.unshown():
                await asyncio.sleep(0.02)


class RecordingBatches(StandInEngine):
    """Runs batches of up to four and records what each held: every job finishes."""

    def __init__(self) -> None:
        super().__init__()
        self.batches: list[list[tuple[str, RenderRequest]]] = []

    def batch_limit(self) -> int:
        return 4

    async def render(self, job_id: str, request: RenderRequest, concepts=()):
        self.batches.append([(job_id, request)])  # a batch of one runs as a single job
        async for event in super().render(job_id, request):
            yield event

    async def render_batch(self, jobs, concepts=None):
        self.batches.append(list(jobs))
        for job_id, _ in jobs:
            yield Finished(job_id, b"\x89PNG-fake", 1.0, (0.5,))


async def test_a_batch_holds_only_jobs_of_one_model_perceptor_and_size_each_with_its_own_request(tmp_path):
    """Five members' jobs in turn: the second perceptor, the other size and the other model each break the run,
    and each job is painted once, with the request its member made (prompt, seed, steps and cutouts its own)."""
    shared = dict(model="tiny-vqgan", perceptor="tiny-clip", width=32, height=32)
    requests = {
        "aa": RenderRequest("a castle", seed=1, steps=5, **shared),
        "bb": RenderRequest("a ruin", seed=2, steps=7, cutn=9, **shared),
        "cc": RenderRequest("a tower", seed=3, **shared | {"perceptor": "ViT-B-32/openai"}),
        "dd": RenderRequest("a moat", seed=4, **shared | {"width": 48}),
        "ee": RenderRequest("a keep", seed=5, **shared | {"model": "pixels"}),
        "ff": RenderRequest("a gate", seed=6, lr=0.3, **shared),
    }
    engine = RecordingBatches()
    store = await Store.open(tmp_path / "d.sqlite3")
    for user, (job_id, request) in enumerate(requests.items(), start=1):  # all waiting before the scheduler looks
        await store.add_job(Job(job_id, 10, 20, user, f"member{user}", request, created=float(user)))
    async with scheduling(tmp_path, engine, store) as (_scheduler, store, reporter):
        for job_id in requests:
            await state_of(store, job_id, "done")
        await reporter.heard({"finished"}, len(requests))
    assert [[job_id for job_id, _ in batch] for batch in engine.batches] == [["aa", "bb"], ["cc"], ["dd"], ["ee"], ["ff"]]
    assert engine.renders == ["cc", "dd", "ee", "ff"], "a job with none like it behind runs alone, once"
    assert all(request == requests[job_id] for batch in engine.batches for job_id, request in batch)
    assert sorted(job for kind, job in reporter.notes if kind == "finished") == sorted(requests), "each job finished once"


class Holding(StandInEngine):
    """Paints one step of the first job, then holds it until it is cancelled; the others it paints at once."""

    def __init__(self) -> None:
        super().__init__()
        self.cancels: list[str] = []
        self._released = asyncio.Event()

    async def render(self, job_id: str, request: RenderRequest, concepts=()):
        if self.renders:  # only the first job is held
            async for event in super().render(job_id, request):
                yield event
            return
        self.renders.append(job_id)
        yield Progress(job_id, 1, 10)
        await self._released.wait()
        yield Cancelled(job_id, 1)

    async def cancel(self, job_id: str) -> None:
        self.cancels.append(job_id)
        self._released.set()


async def test_a_cancel_ends_a_waiting_job_at_once_asks_the_engine_to_stop_a_running_one_and_leaves_the_rest(tmp_path):
    engine = Holding()
    async with scheduling(tmp_path, engine) as (scheduler, store, reporter):
        await store.add_job(a_job("painting"))
        await store.add_job(a_job("waiting", user=2))
        await store.add_job(a_job("other", user=3))
        scheduler.wake()
        running = await state_of(store, "painting", "running")
        while "painting" not in scheduler.running:
            await asyncio.sleep(0.02)
        assert await scheduler.cancel(await store.job("waiting"))
        assert (await store.job("waiting")).state == JobState.CANCELLED and engine.cancels == []
        assert ("cancelled", "waiting") in reporter.notes
        assert await scheduler.cancel(running)
        assert engine.cancels == ["painting"]
        await state_of(store, "painting", "cancelled")
        assert not await scheduler.cancel(await store.job("waiting")), "it has already ended"
        await state_of(store, "other", "done")
        assert engine.renders == ["painting", "other"]


async def test_a_finished_job_keeps_each_of_its_files_and_posts_its_film_only_when_it_is_a_film(tmp_path):
    painted = Finished("", b"grid", 2.5, (0.5,), animation=b"film", candidates=(b"one", b"two"), svg=b"<svg/>")
    engine = StandInEngine([painted], [painted])
    async with scheduling(tmp_path, engine) as (scheduler, store, reporter):
        await store.add_job(a_job("still"))
        await store.add_job(Job("zoom", 10, 20, 2, "member2", RenderRequest("a tunnel", seed=1, zoom_frames=3)))
        scheduler.wake()
        for job_id in ("still", "zoom"):
            done = await ended(store, job_id)
            assert (done.state, done.seconds) == (JobState.DONE, 2.5), done.error
        await reporter.heard({"finished"}, 2)
        files = scheduler.files
        for job_id in ("still", "zoom"):
            assert files.result(job_id).read_bytes() == b"grid" and files.animation(job_id).read_bytes() == b"film"
            assert files.svg(job_id).read_bytes() == b"<svg/>"
            assert [files.candidate(job_id, n).read_bytes() for n in (1, 2)] == [b"one", b"two"]
        assert reporter.films == {"still": None, "zoom": b"film"}, "a still's run is a button away, a film's is its result"


async def test_a_result_that_cannot_be_posted_says_so_and_stays_done(tmp_path, caplog):
    class Unpostable(NoteTaker):
        async def finished(
            self, job: Job, png: bytes, film: bytes | None = None, candidates: Sequence[bytes] = (), scores=None, description=None
        ) -> None:
            raise RuntimeError("Discord is down")

    store = await Store.open(tmp_path / "d.sqlite3")
    reporter = Unpostable(store)
    scheduler = Scheduler(store, StandInEngine(), reporter, JobFiles(tmp_path / "files"))
    await store.add_job(a_job("aa"))
    task = asyncio.create_task(scheduler.run())
    try:
        await reporter.heard({"failed"}, 1)
        assert reporter.notes == [
            ("started", "aa"),
            ("failed", "aa: the picture is done but could not be posted here; the bot's owner finds it in the job files"),
        ]
        assert (await store.job("aa")).state == JobState.DONE and scheduler.files.result("aa").read_bytes() == b"\x89PNG-fake"
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await store.close()


async def test_an_engine_that_dies_once_is_reset_and_the_job_painted_again_and_twice_fails_it_with_the_reason(tmp_path):
    died = EngineCrashed("the engine process exited with code -9")
    painted = Finished("", b"\x89PNG-fake", 1.0, (0.5,))
    engine = StandInEngine([Progress("", 1, 2, 0.5), died], [painted], [died], [died])
    async with scheduling(tmp_path, engine) as (scheduler, store, reporter):
        await store.add_job(a_job("once"))
        scheduler.wake()
        done = await ended(store, "once")
        assert done.state == JobState.DONE and engine.renders == ["once", "once"] and engine.stops == 1 and done.attempts == 2
        await store.add_job(a_job("twice", user=2))
        scheduler.wake()
        failed = await ended(store, "twice")
        await reporter.heard({"failed"}, 1)
        reason = "the engine stopped unexpectedly twice while painting this (the engine process exited with code -9)"
        assert failed.error == reason
        assert engine.renders[2:] == ["twice", "twice"] and engine.stops == 3 and failed.attempts == 2


async def test_a_job_being_cancelled_when_its_engine_dies_or_fails_is_cancelled_not_painted_again(tmp_path):
    class CancelledMidway(StandInEngine):
        async def render(self, job_id, request, concepts=()):
            self.renders.append(job_id)
            yield Progress(job_id, 1, 2, 0.5)
            await scheduler.cancel(await store.job(job_id))  # the member's ❌ arrives mid-job
            if job_id == "dies":
                raise EngineCrashed("killed while cancelling")
            yield Failed(job_id, "CUDA error", retryable=True)

    engine = CancelledMidway()
    async with scheduling(tmp_path, engine) as (scheduler, store, _reporter):
        await store.add_job(a_job("dies"))
        scheduler.wake()
        assert (await ended(store, "dies")).state == JobState.CANCELLED
        await store.add_job(a_job("fails", user=2))
        scheduler.wake()
        failed = await ended(store, "fails")
        assert (failed.state, failed.error) == (JobState.FAILED, "CUDA error")
        assert engine.renders == ["dies", "fails"], "neither painted again"


async def test_a_failure_reaches_the_reporter_with_its_reason_and_hint(tmp_path):
    engine = StandInEngine([Failed("", "out of memory", hint="try a smaller size")])
    async with scheduling(tmp_path, engine) as (scheduler, store, reporter):
        await store.add_job(a_job("aa"))
        scheduler.wake()
        failed = await ended(store, "aa")
        await reporter.heard({"failed"}, 1)
        assert (failed.state, failed.error) == (JobState.FAILED, "out of memory")
        assert reporter.hints == {"aa": "try a smaller size"}
        assert engine.renders == ["aa"], "a failure that is not retryable is not retried"


async def test_each_failure_the_scheduler_writes_itself_has_its_reason_and_no_hint(tmp_path, quick_backoff, monkeypatch):
    """A hint says what the member should change; the bot's own failures (a crash twice, a full disk, a picture that
    could not be posted) have nothing to change, so they carry none."""
    died = EngineCrashed("the engine process exited with code -9")
    engine = StandInEngine([died], [died])
    async with scheduling(tmp_path, engine) as (scheduler, store, reporter):
        await store.add_job(a_job("crashed"))
        scheduler.wake()
        await ended(store, "crashed")

        async def full(self, path, data):
            raise OSError(errno.ENOSPC, None)  # no strerror: the reason says "disk error"

        monkeypatch.setattr(JobFiles, "write", full)
        await store.add_job(a_job("full", user=2))
        scheduler.wake()
        assert (await ended(store, "full")).error == "the bot could not save the picture (disk error)"
        await reporter.heard({"failed"}, 2)
    assert reporter.hints == {"crashed": "", "full": ""}
    assert ("failed", "full: the bot could not save the picture (disk error)") in reporter.notes


async def test_a_job_left_running_by_a_bot_that_stopped_is_failed_without_a_hint_after_its_tries(tmp_path):
    store = await Store.open(tmp_path / "d.sqlite3")
    await store.add_job(a_job("poison"))
    for _ in range(2):
        await store.requeue_running()
        await store.claim("poison")
    async with scheduling(tmp_path, StandInEngine(), store) as (_scheduler, store, reporter):
        await reporter.heard({"failed"}, 1)
    assert reporter.hints == {"poison": ""}


async def test_an_outcome_shown_at_start_is_posted_whole_a_films_with_its_film_and_an_unknown_failure_says_so(tmp_path):
    store = await Store.open(tmp_path / "d.sqlite3")
    files = JobFiles(tmp_path / "files")
    film = Job("film", 10, 20, 1, "member1", RenderRequest("a tunnel", seed=1, zoom_frames=3))
    await store.add_job(film)
    await store.add_job(a_job("still", user=2))
    await store.add_job(a_job("broken", user=3))
    for job_id in ("film", "still"):
        await store.claim(job_id)
        await files.write(files.result(job_id), f"{job_id}.png".encode())
        await files.write(files.animation(job_id), f"{job_id}.mp4".encode())
        await store.finish(job_id, JobState.DONE)
    await store.claim("broken")
    await store.finish("broken", JobState.FAILED)  # no error written: a crash between the two writes
    async with scheduling(tmp_path, StandInEngine(), store) as (_scheduler, store, reporter):
        await reporter.heard({"finished", "failed"}, 3)
    assert reporter.posted == {"film": (b"film.png", ()), "still": (b"still.png", ())}
    assert reporter.films == {"film": b"film.mp4", "still": None}, "a film's result is shown with its film"
    assert ("failed", "broken: unknown") in reporter.notes and reporter.hints["broken"] == ""


async def test_a_finished_jobs_picture_and_candidates_reach_the_reporter(tmp_path):
    painted = Finished("", b"grid", 1.0, (0.5,), candidates=(b"one", b"two"))
    async with scheduling(tmp_path, StandInEngine([painted])) as (scheduler, store, reporter):
        await store.add_job(a_job("set"))
        scheduler.wake()
        await reporter.heard({"finished"}, 1)
    assert reporter.posted == {"set": (b"grid", (b"one", b"two"))}


async def test_a_retryable_failure_is_tried_twice_in_all_never_a_third_time(tmp_path):
    again = Failed("", "CUDA error: an illegal memory access", retryable=True)
    engine = StandInEngine([again], [again], [again])
    async with scheduling(tmp_path, engine) as (scheduler, store, reporter):
        await store.add_job(a_job("aa"))
        scheduler.wake()
        failed = await ended(store, "aa")
        await reporter.heard({"failed"}, 1)
    assert (failed.state, failed.attempts, engine.renders) == (JobState.FAILED, 2, ["aa", "aa"])
    assert reporter.notes[-1] == ("failed", "aa: CUDA error: an illegal memory access")


async def test_close_stops_the_running_jobs_tasks_and_leaves_them_running_in_the_store(tmp_path):
    class Endless(StandInEngine):
        async def render(self, job_id, request, concepts=()):
            self.renders.append(job_id)
            yield Progress(job_id, 1, 2, 0.5)
            await asyncio.Event().wait()  # paints for ever

    async with scheduling(tmp_path, Endless()) as (scheduler, store, _reporter):
        await store.add_job(a_job("long"))
        scheduler.wake()
        await painting(scheduler, "long")
        [task] = scheduler._tasks
        await scheduler.close()
        assert task.cancelled() and not scheduler._tasks, "each job's task is cancelled and awaited"
        assert (await store.job("long")).state == JobState.RUNNING, "queued again at the next start"


async def painting(scheduler: Scheduler, job_id: str) -> None:
    """Until the job's first progress has reached the scheduler."""
    async with asyncio.timeout(PATIENCE):
        while job_id not in scheduler.progress:
            await asyncio.sleep(0.02)


async def test_running_and_progress_hold_the_running_jobs_and_forget_them_when_they_end(tmp_path):
    release = asyncio.Event()

    class Held(StandInEngine):
        async def render(self, job_id, request, concepts=()):
            self.renders.append(job_id)
            yield Progress(job_id, 1, 2, 0.5)
            await release.wait()
            yield Finished(job_id, b"\x89PNG-fake", 1.0, (0.5,))

    async with scheduling(tmp_path, Held()) as (scheduler, store, reporter):
        await store.add_job(a_job("aa"))
        scheduler.wake()
        await painting(scheduler, "aa")
        assert scheduler.running["aa"].id == "aa" and scheduler.progress["aa"].step == 1
        release.set()
        await reporter.heard({"finished"}, 1)
        async with asyncio.timeout(PATIENCE):
            while scheduler.running:
                await asyncio.sleep(0.02)
        assert scheduler.progress == {}


async def test_a_bug_while_running_a_job_fails_that_job_in_words_and_the_queue_goes_on(tmp_path, monkeypatch):
    real_write = JobFiles.write

    async def buggy(self, path, data):
        if Path(path).parent.name == "bug":  # the job's own folder
            raise RuntimeError("a bug in the bot")
        return await real_write(self, path, data)

    monkeypatch.setattr(JobFiles, "write", buggy)
    async with scheduling(tmp_path, StandInEngine()) as (scheduler, store, reporter):
        await store.add_job(a_job("bug"))
        await store.add_job(a_job("next", user=2))
        scheduler.wake()
        failed = await ended(store, "bug")
        assert (failed.state, failed.error) == (JobState.FAILED, "the bot hit an internal error while running this job")
        assert (await ended(store, "next")).state == JobState.DONE
        await reporter.heard({"failed", "finished"}, 2)
    assert reporter.hints["bug"] == ""
    assert ("failed", "bug: the bot hit an internal error while running this job") in reporter.notes


async def test_a_batch_reports_each_jobs_start_progress_and_the_queue_moving(tmp_path):
    class Stepping(RecordingBatches):
        async def render_batch(self, jobs, concepts=None):
            self.batches.append(list(jobs))
            for job_id, _ in jobs:
                yield Progress(job_id, 1, 2, 0.5)
            for job_id, _ in jobs:
                yield Finished(job_id, b"\x89PNG-fake", 1.0, (0.5,))

    store = await Store.open(tmp_path / "d.sqlite3")
    for user, job_id in enumerate(("aa", "bb", "cc"), start=1):  # cc waits: a batch holds two here
        request = RenderRequest("x", "tiny-vqgan", "tiny-clip", 32, 32, seed=user)
        await store.add_job(Job(job_id, 10, 20, user, f"member{user}", request, created=float(user)))
    engine = Stepping()
    engine.batch_limit = lambda: 2
    async with scheduling(tmp_path, engine, store) as (_scheduler, store, reporter):
        await reporter.heard({"finished"}, 3)
    assert [note for note in reporter.notes if note[0] == "started"][:2] == [("started", "aa"), ("started", "bb")]
    assert ("aa", 1) in reporter.steps and ("bb", 1) in reporter.steps
    assert ["cc"] in reporter.orders, "when the batch started, the one left waiting moved up"


async def test_a_cancelled_waiting_job_moves_the_queue(tmp_path):
    async with scheduling(tmp_path, StandInEngine()) as (scheduler, store, reporter):
        await store.add_job(a_job("gone"))
        await store.add_job(a_job("stays", user=2))
        assert await scheduler.cancel(await store.job("gone"))
        assert reporter.orders[-1] == ["stays"] and ("cancelled", "gone") in reporter.notes


async def test_each_jobs_concepts_reach_the_engine_and_its_scores_reach_the_reporter(tmp_path):
    """The CLIP check's join: the scheduler asks for each job's concepts (a batch's, each its own) and hands the
    result's scores on, whichever way the job ran."""

    class Scoring(RecordingBatches):
        def __init__(self) -> None:
            super().__init__()
            self.concepts: dict[str, tuple[str, ...]] = {}

        async def render(self, job_id, request, concepts=()):
            self.concepts[job_id] = tuple(concepts)
            yield Finished(job_id, b"\x89PNG-fake", 1.0, (0.5,), concepts={c: 0.25 for c in concepts})

        async def render_batch(self, jobs, concepts=None):
            self.batches.append(list(jobs))
            for job_id, _ in jobs:
                self.concepts[job_id] = tuple((concepts or {}).get(job_id, ()))
                yield Finished(job_id, b"\x89PNG-fake", 1.0, (0.5,), concepts={c: 0.5 for c in self.concepts[job_id]})

    class Scored(NoteTaker):
        def __init__(self, store: Store) -> None:
            super().__init__(store)
            self.scores: dict[str, object] = {}

        async def finished(self, job, png, film=None, candidates=(), scores=None, description=None) -> None:
            self.scores[job.id] = scores
            await super().finished(job, png, film, candidates, scores)

    async def concepts_of(job: Job) -> tuple[str, ...]:
        return (f"concept of {job.id}",)

    store = await Store.open(tmp_path / "d.sqlite3")
    shared = RenderRequest("x", "tiny-vqgan", "tiny-clip", 32, 32)
    for user, job_id in enumerate(("aa", "bb"), start=1):  # one batch of two
        await store.add_job(Job(job_id, 10, 20, user, f"member{user}", dataclasses.replace(shared, seed=user), created=user))
    await store.add_job(Job("cc", 10, 20, 3, "member3", RenderRequest("a film", zoom_frames=2), created=3.0))  # alone
    engine, reporter = Scoring(), Scored(store)
    scheduler = Scheduler(store, engine, reporter, JobFiles(tmp_path / "files"), concepts_of)
    task = asyncio.create_task(scheduler.run())
    try:
        await reporter.heard({"finished"}, 3)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await store.close()
    assert engine.concepts == {job_id: (f"concept of {job_id}",) for job_id in ("aa", "bb", "cc")}
    assert reporter.scores["aa"] == {"concept of aa": 0.5} and reporter.scores["cc"] == {"concept of cc": 0.25}


async def test_a_description_is_kept_for_its_buttons_and_a_malformed_one_fails_its_job_unkept(tmp_path):
    described = {"ranked": {"artists": [["Moebius", 0.3]]}, "prompts": ["a castle, by Moebius"]}
    malformed = {"ranked": {"artists": [["Moebius", 7.0]]}, "prompts": ["a castle"]}
    engine = StandInEngine(
        [Finished("", b"\x89PNG-fake", 1.0, description=described)], [Finished("", b"\x89PNG-fake", 1.0, description=malformed)]
    )
    store = await Store.open(tmp_path / "d.sqlite3")
    reporter = NoteTaker(store)
    scheduler = Scheduler(store, engine, reporter, JobFiles(tmp_path / "files"))
    for job_id in ("aa", "bb"):
        job = a_job(job_id)
        await store.add_job(dataclasses.replace(job, request=dataclasses.replace(job.request, describe=True)))
    task = asyncio.create_task(scheduler.run())
    try:
        await reporter.heard({"finished", "failed"}, 2)
        assert ("finished", "aa") in reporter.notes
        assert ("failed", "bb: the description that came back was refused (a ranked phrase has 1 to 200 characters and a "
                "similarity from -1 to 1)") in reporter.notes  # fmt: skip
        assert (await scheduler.files.read_description("aa")).prompts == ["a castle, by Moebius"]
        assert not scheduler.files.description("bb").exists() and not scheduler.files.result("bb").exists()
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await store.close()
