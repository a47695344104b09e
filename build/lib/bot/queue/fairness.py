"""Round-robin order of the queue: whoever was served longest ago goes next, so one member's ten
jobs never starve another member's one."""

from __future__ import annotations

import heapq
import math
from collections import deque
from collections.abc import Mapping, Sequence

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
