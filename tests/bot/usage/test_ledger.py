"""The ledger through a real store: each job charged once, what it took, to its member and server only; use read
over the right spans; the daily quota at admission; and the order by least use in its server's places."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time

import pytest

from bot.admission.refusal import Refusal
from bot.admission.settings import GuildSettings, SettingsStore
from bot.queue.files import JobFiles
from bot.queue.jobs import Job
from bot.queue.scheduler import Scheduler
from bot.queue.store import Store
from bot.usage.charges import Charge
from bot.usage.ledger import DAY, Ledger, day_start
from contract.costs import predict
from contract.protocol import Cancelled, Finished, Progress, RenderRequest
from tests.bot.queue.test_scheduler import NoteTaker, RecordingBatches, StandInEngine, state_of

BASE = GuildSettings("tiny-vqgan", 50, "64x64")
TINY = RenderRequest("a castle", "tiny-vqgan", "tiny-clip", 64, 64, steps=50, cutn=8)


@pytest.fixture
async def store(tmp_path):
    store = await Store.open(tmp_path / "d.sqlite3")
    yield store
    await store.close()


@pytest.fixture
def ledger(store) -> Ledger:
    return Ledger(store, SettingsStore(store, BASE))


async def test_charges_of_one_job_add_up_and_use_is_read_by_server_member_and_time(store):
    now = time.time()
    for job_id, guild, user, at, seconds in (
        ("a", 1, 7, now, 30.0), ("a", 1, 7, now, 12.0),  # a retry adds to its job's charge
        ("b", 1, 7, now - 3 * DAY, 100.0), ("c", 1, 8, now, 5.0), ("d", 2, 7, now, 1000.0),
    ):  # fmt: skip
        await store.charge(Charge(job_id, guild, user, at, seconds, 1.0))
    assert await store.used(1, now - DAY) == {7: 42.0, 8: 5.0}
    assert await store.used(1, 0.0, user_id=7) == {7: 142.0}, "another server's charge is not this one's"
    assert await store.used(3, 0.0) == {}
    assert [c.job_id for c in await store.charges(10)] == ["d", "c", "a", "b"], "newest first, one line a job"
    assert (await store.charges(10))[2] == Charge("a", 1, 7, now, 42.0, 1.0)


async def test_a_members_use_is_split_into_today_the_week_and_all(store, ledger):
    now = time.time()
    for job_id, at, seconds in (("t", now, 60.0), ("y", day_start(now) - 60, 120.0), ("old", now - 30 * DAY, 600.0)):
        await store.charge(Charge(job_id, 1, 7, at, seconds, 1.0))
    use = await ledger.member(1, 7, set(), now)
    assert (use.today, use.week, use.total) == (60.0, 180.0, 780.0)
    assert use.quota_minutes is None and use.left_minutes is None and use.refills == day_start(now) + DAY
    assert (await ledger.member(1, 8, set(), now)).total == 0.0, "another member's use is not theirs"


async def test_the_quota_refuses_what_the_day_cannot_pay_for_counting_waiting_jobs(store, ledger):
    cost = predict(TINY).seconds  # the ledger has no pace yet: the table's seconds
    await ledger.settings.set(1, "daily_gpu_minutes", f"{2.5 * cost / 60:.6f}, <@&500> none")  # two and a half jobs
    await store.charge(Charge("earlier", 1, 7, time.time(), cost, cost))
    await ledger.check_quota(1, 7, set(), TINY)  # one used: this one makes two
    await store.add_job(Job("waiting", 1, 2, 7, "m", TINY))
    with pytest.raises(Refusal) as refused:
        await ledger.check_quota(1, 7, set(), TINY)  # one used and one waiting: a third passes the quota
    text = str(refused.value)
    half = 0.5 * cost / 60
    assert text.startswith(f"This would take about {cost / 60:.1f} GPU-minutes, and you have {half:.1f} of your")
    assert "held for your waiting jobs" in text and f"refill <t:{int(day_start(time.time()) + DAY)}:R>" in text
    await ledger.check_quota(1, 7, {500}, TINY)  # a role with no quota
    await ledger.check_quota(1, 8, set(), TINY)  # another member's day is their own
    await ledger.check_quota(2, 7, set(), TINY)  # another server has no quota


async def test_predictions_follow_the_executors_pace_once_it_has_a_few_jobs(store, ledger):
    table = predict(TINY).seconds
    assert (await ledger.predict(TINY)).seconds == table
    for n in range(3):
        await store.charge(Charge(f"j{n}", 1, 7, time.time(), 0.1 * table, table))  # ten times faster than the table
    ledger._pace = None  # read again at once, not after PACE_KEPT
    assert (await ledger.predict(TINY)).seconds == pytest.approx(0.1 * table)


def job(job_id: str, user: int, guild: int = 1, created: float = 0.0) -> Job:
    return Job(job_id, guild, 2, user, f"m{user}", TINY, created=created)


async def test_least_use_reorders_only_the_servers_that_chose_it_in_their_own_places(store, ledger):
    now = time.time()
    await store.charge(Charge("past", 1, 7, now, 10_000.0, 1.0))  # member 7 used a lot in server 1
    await store.charge(Charge("past2", 2, 7, now, 10_000.0, 1.0))  # and in server 2
    turns = [job("h1", 7), job("x1", 9, guild=2), job("h2", 7), job("l1", 8), job("x2", 7, guild=2), job("x3", 8, guild=2)]
    assert await ledger.order(turns) == turns, "by turns by default"
    await ledger.settings.set(1, "fairness", "least_used")
    order = [j.id for j in await ledger.order(turns)]
    assert order == ["l1", "x1", "h1", "h2", "x2", "x3"], "server 1's light member first, in server 1's places only"
    await ledger.settings.set(1, "usage_window", "1")
    await store.charge(Charge("past3", 1, 8, now - 2 * 3600, 50_000.0, 1.0))  # outside a 1-hour window
    assert [j.id for j in await ledger.order(turns)] == order


class Slow(StandInEngine):
    """Takes ``seconds`` over each job, then ends it as its script says (finished by default)."""

    def __init__(self, seconds: float, ends: dict[str, type] | None = None) -> None:
        super().__init__()
        self.seconds, self.ends = seconds, ends or {}

    async def render(self, job_id: str, request: RenderRequest, concepts=()):
        self.renders.append(job_id)
        yield Progress(job_id, 1, 2)
        await asyncio.sleep(self.seconds)
        end = self.ends.get(job_id, Finished)
        yield Cancelled(job_id, 1) if end is Cancelled else Finished(job_id, b"\x89PNG-fake", 1.0, (0.5,))


class SlowBatches(RecordingBatches):
    def __init__(self, seconds: float) -> None:
        super().__init__()
        self.seconds = seconds

    async def render_batch(self, jobs, concepts=None):
        self.batches.append(list(jobs))
        await asyncio.sleep(self.seconds)
        for job_id, _ in jobs:
            yield Finished(job_id, b"\x89PNG-fake", 1.0, (0.5,))


@contextlib.asynccontextmanager
async def charging(tmp_path, store: Store, ledger: Ledger, engine):
    scheduler = Scheduler(store, engine, NoteTaker(store), JobFiles(tmp_path / "files"), ledger=ledger)
    task = asyncio.create_task(scheduler.run())
    try:
        yield scheduler
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def charged(store: Store, count: int) -> dict[str, Charge]:
    async with asyncio.timeout(600):
        while len(charges := await store.charges(100)) < count:
            await asyncio.sleep(0.02)
    return {c.job_id: c for c in charges}


async def test_every_job_that_ran_is_charged_once_what_it_took_done_or_cancelled(tmp_path, store, ledger):
    took = 0.3
    for job_id, user in (("done", 7), ("stopped", 8)):
        await store.add_job(job(job_id, user))
    await store.add_job(job("never", 9))
    await store.cancel_if_queued("never")
    async with charging(tmp_path, store, ledger, Slow(took, {"stopped": Cancelled})):
        await state_of(store, "done", "done")
        await state_of(store, "stopped", "cancelled")
        charges = await charged(store, 2)
        await asyncio.sleep(0.2)  # not a wait for the work: the time a third, wrong charge would take
    charges = {c.job_id: c for c in await store.charges(100)}
    assert set(charges) == {"done", "stopped"}, "a job cancelled before it started used nothing"
    for job_id, user in (("done", 7), ("stopped", 8)):
        assert (charges[job_id].guild_id, charges[job_id].user_id) == (1, user)
        assert took <= charges[job_id].seconds < took + 5, charges[job_id]
        assert charges[job_id].predicted == predict(TINY).seconds
    assert (charges["stopped"].peak_gib, charges["stopped"].worker) == (0.0, ""), "no result: no peak, no worker said"


async def test_a_batchs_time_is_shared_by_its_jobs(tmp_path, store, ledger):
    """Charged alone, each would be charged 2 s; shared, 1 s each. The margin between (0.5 s) is far above the
    scheduler's own time around a job (milliseconds; tens at load)."""
    took = 2.0
    for job_id, user in (("a", 7), ("b", 8)):
        await store.add_job(dataclasses.replace(job(job_id, user), created=float(user)))
    async with charging(tmp_path, store, ledger, SlowBatches(took)) as scheduler:
        charges = await charged(store, 2)
    assert scheduler.engine.batches[0] == [("a", TINY), ("b", TINY)]
    shares = [charges["a"].seconds, charges["b"].seconds]
    assert all(took / 2 <= share < 0.75 * took for share in shares), shares


async def test_the_peak_memory_a_models_jobs_measured_scales_its_predictions_and_no_other_models(store, ledger):
    table = predict(TINY)
    assert (await ledger.predict(TINY)).memory_gib == table.memory_gib
    for n in range(3):  # tiny-vqgan's jobs peaked at three times the table's figure
        charge = Charge(f"j{n}", 1, 7, time.time(), 1.0, table.seconds, table.memory_gib, 3 * table.memory_gib, TINY.model)
        await store.charge(charge)
    assert (await ledger.predict(TINY)).memory_gib == pytest.approx(3 * table.memory_gib)
    pixels = dataclasses.replace(TINY, model="pixels")
    assert (await ledger.predict(pixels)).memory_gib == predict(pixels).memory_gib, "another model's figure is its own"


async def test_the_engines_peak_memory_is_charged_with_its_job(tmp_path, store, ledger):
    class Measured(StandInEngine):
        async def render(self, job_id, request, concepts=()):
            self.renders.append(job_id)
            yield Finished(job_id, b"\x89PNG-fake", 1.0, (0.5,), peak_gib=3.25, worker="big-gpu")

    await store.add_job(job("aa", 7))
    async with charging(tmp_path, store, ledger, Measured()):
        charges = await charged(store, 1)
    assert (charges["aa"].peak_gib, charges["aa"].model, charges["aa"].worker) == (3.25, TINY.model, "big-gpu")
    assert charges["aa"].predicted_gib == predict(TINY).memory_gib
