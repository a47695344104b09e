"""The order of the queue. By turns (the default): whoever was served longest ago goes next, so one member's ten
jobs never starve another member's one. By least use (a server's ``fairness = "least_used"``, Midjourney's Relax
rule): the member with the fewest GPU-seconds lately goes next, so a light user's one job overtakes a heavy
user's many; within a server only, in the places that server's jobs hold in the order by turns."""

from __future__ import annotations

import heapq
import math
from collections import deque
from collections.abc import Callable, Mapping, Sequence

from bot.queue.jobs import Job


def round_robin(queued: Sequence[Job], last_started: Mapping[int, float]) -> list[Job]:
    """The order in which ``queued`` jobs will run.

    Each member's jobs keep their own order. Members take turns: the one who has waited longest
    since their last start (never started counts as longest) goes first, ties broken by who queued
    first. After a member's turn they go to the back, as if they had just started.
    """
    per_user: dict[int, deque[Job]] = {}
    for job in sorted(queued, key=lambda j: j.created):
        per_user.setdefault(job.user_id, deque()).append(job)
    # (their turn, their place among members, the member): a heap, so thousands of jobs take milliseconds
    turns = [
        (last_started.get(user, -math.inf), jobs[0].created, place, user) for place, (user, jobs) in enumerate(per_user.items())
    ]
    heapq.heapify(turns)
    order: list[Job] = []
    clock = max([*last_started.values(), *(j.created for j in queued), 0.0])
    while turns:
        _, _, place, user = heapq.heappop(turns)
        jobs = per_user[user]
        order.append(jobs.popleft())
        if jobs:
            clock += 1.0
            heapq.heappush(turns, (clock, jobs[0].created, place, user))
    return order


def least_used(queued: Sequence[Job], used: Mapping[int, float], cost: Callable[[Job], float], turns: Sequence[Job]) -> list[Job]:
    """``queued`` in least-use order: the member whose GPU-seconds (``used`` over the window, plus the ``cost`` of
    their jobs placed ahead) are fewest goes next, ties by their place in ``turns`` (the order by turns). Each
    member's jobs keep their own order, and a job placed counts against its member at once, so nobody starves:
    another member's work ahead of a member's first job is at most the difference in their use plus one job."""
    per_user: dict[int, deque[Job]] = {}
    for job in sorted(queued, key=lambda j: j.created):
        per_user.setdefault(job.user_id, deque()).append(job)
    rank = {}
    for place, job in enumerate(turns):
        rank.setdefault(job.user_id, place)
    heap = [(used.get(user, 0.0), rank.get(user, math.inf), user) for user in per_user]
    heapq.heapify(heap)
    order: list[Job] = []
    while heap:
        spent, place, user = heapq.heappop(heap)
        job = per_user[user].popleft()
        order.append(job)
        if per_user[user]:
            heapq.heappush(heap, (spent + cost(job), place, user))
    return order


def within_servers(order: Sequence[Job], reorder: Mapping[int, Callable[[list[Job]], list[Job]]]) -> list[Job]:
    """``order`` with the jobs of each server in ``reorder`` put in that server's own order, in the places its
    jobs held: servers keep their share of the queue, whatever rule each one picks."""
    mine: dict[int, list[Job]] = {}
    for job in order:
        if job.guild_id in reorder:
            mine.setdefault(job.guild_id, []).append(job)
    refilled = {guild: deque(reorder[guild](jobs)) for guild, jobs in mine.items()}
    return [refilled[job.guild_id].popleft() if job.guild_id in refilled else job for job in order]
