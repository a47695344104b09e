"""The usage ledger's uses: what a job is predicted to cost on this bot's executor, the daily quota at admission,
a member's and a server's use for ``/usage``, and the order by recent use for servers that chose it.

Predictions come from the cost table (``contract/costs.py``) scaled by the executor's pace: the median of measured
over predicted seconds of the latest jobs, so a GPU worker's jobs are predicted at its pace, not the CPU's the
table was measured on.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bot.admission.refusal import Refusal
from bot.queue.fairness import least_used, within_servers
from bot.queue.jobs import Job
from bot.usage.charges import Charge
from bot.usage.quota import Quota
from contract.costs import SAMPLES, Cost, pace, predict
from contract.protocol import RenderRequest

if TYPE_CHECKING:
    from bot.admission.settings import GuildSettings, SettingsStore
    from bot.queue.store import Store

DAY = 24 * 3600.0
WEEK = 7 * DAY
PACE_KEPT = 30.0  # seconds the executor's pace is kept before the ledger is read again


def day_start(now: float) -> float:
    """Midnight UTC of ``now``'s day: daily quotas refill then."""
    today = dt.datetime.fromtimestamp(now, dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return today.timestamp()


@dataclass(frozen=True)
class MemberUse:
    """A member's engine seconds in a server: today (UTC), the last 7 days and in all, and their quota."""

    today: float
    week: float
    total: float
    waiting: float  # predicted seconds of their waiting and running jobs
    quota_minutes: float | None  # None: no quota
    refills: float  # when today's use is forgotten (midnight UTC)

    @property
    def left_minutes(self) -> float | None:
        if self.quota_minutes is None:
            return None
        return max(0.0, self.quota_minutes - (self.today + self.waiting) / 60)


class Ledger:
    def __init__(self, store: Store, settings: SettingsStore) -> None:
        self.store = store
        self.settings = settings
        self._pace: tuple[float, float] | None = None  # (when read, pace)

    async def pace(self) -> float:
        """How much slower than the cost table's machine this bot's executor paints (``contract.costs.pace``)."""
        now = time.monotonic()
        if self._pace is None or now - self._pace[0] > PACE_KEPT:
            charges = await self.store.charges(SAMPLES)
            self._pace = (now, pace((c.predicted, c.seconds) for c in charges))
        return self._pace[1]

    async def predict(self, request: RenderRequest) -> Cost:
        """The job's engine seconds at this executor's pace, and its peak memory as the model's latest jobs measured
        it against the table (the cost model learns the real peak)."""
        table = predict(request)
        return Cost(table.seconds * await self.pace(), table.memory_gib * await self.memory_pace(request.model))

    async def memory_pace(self, model: str) -> float:
        """The median of measured over predicted peak memory of ``model``'s latest jobs (1 until a few said)."""
        charges = [c for c in await self.store.charges(SAMPLES) if c.model == model and c.peak_gib > 0]
        return pace((c.predicted_gib, c.peak_gib) for c in charges)

    async def charge(self, job: Job, seconds: float, at: float, peak_gib: float = 0.0, worker: str = "") -> None:
        table = predict(job.request)
        measured = {"peak_gib": peak_gib, "model": job.request.model, "worker": worker}
        await self.store.charge(
            Charge(job.id, job.guild_id, job.user_id, at, seconds, table.seconds, table.memory_gib, **measured)
        )

    async def member(self, guild_id: int, user_id: int, roles: Collection[int], now: float) -> MemberUse:
        settings = await self.settings.get(guild_id)
        spans = [await self.store.used(guild_id, since, user_id) for since in (day_start(now), now - WEEK, 0.0)]
        today, week, total = (span.get(user_id, 0.0) for span in spans)
        active = await self.store.active_jobs(guild_id, user_id)
        waiting = sum(predict(job.request).seconds for job in active) * await self.pace()
        quota = Quota.parse(settings.daily_gpu_minutes).for_member(roles)
        return MemberUse(today, week, total, waiting, quota, day_start(now) + DAY)

    async def check_quota(self, guild_id: int, user_id: int, roles: Collection[int], request: RenderRequest) -> None:
        """Refuse a request its member's daily quota cannot pay for, counting what their waiting jobs will cost,
        with how much is left and when it refills."""
        use = await self.member(guild_id, user_id, roles, time.time())
        if use.quota_minutes is None:
            return
        cost = (await self.predict(request)).seconds / 60
        left = use.left_minutes or 0.0
        if cost <= left:
            return
        waiting = f" ({use.waiting / 60:.1f} of them held for your waiting jobs)" if use.waiting else ""
        raise Refusal(
            f"This would take about {cost:.1f} GPU-minutes, and you have {left:.1f} of your {use.quota_minutes:g} a day "
            f"left{waiting}. Your minutes refill <t:{int(use.refills)}:R>; a smaller size, fewer steps or fewer "
            "cutouts cost less."
        )

    async def top(self, guild_id: int, since: float, limit: int) -> list[tuple[int, float]]:
        """The server's members who used the most engine seconds since ``since``, most first."""
        used = await self.store.used(guild_id, since)
        return sorted(used.items(), key=lambda item: (-item[1], item[0]))[:limit]

    async def order(self, order: Sequence[Job]) -> list[Job]:
        """The queue's order by turns, with each ``least_used`` server's jobs put in least-use order in their places."""
        now, reorder = time.time(), {}
        for guild_id in dict.fromkeys(job.guild_id for job in order):
            settings: GuildSettings = await self.settings.get(guild_id)
            if settings.fairness == "least_used":
                used = await self.store.used(guild_id, now - settings.usage_window * 3600.0)
                speed = await self.pace()  # once: the order is worked out at every move of the queue
                costs = {job.id: predict(job.request).seconds * speed for job in order if job.guild_id == guild_id}
                reorder[guild_id] = _by_use(used, costs)
        if not reorder:
            return list(order)
        return await asyncio.to_thread(within_servers, order, reorder)


def _by_use(used: dict[int, float], costs: dict[str, float]):
    """A server's jobs (in their order by turns) in least-use order, each job costing its predicted seconds."""
    return lambda jobs: least_used(jobs, used, lambda job: costs[job.id], jobs)
