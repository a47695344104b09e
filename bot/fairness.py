"""Round-robin order of the queue: whoever was served longest ago goes next, so one member's ten
jobs never starve another member's one."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from bot.jobs import Job


def round_robin(queued: Sequence[Job], last_started: Mapping[int, float]) -> list[Job]:
    """The order in which ``queued`` jobs will run.

    Each member's jobs keep their own order. Members take turns: the one who has waited longest
    since their last start (never started counts as longest) goes first, ties broken by who queued
    first. After a member's turn they go to the back, as if they had just started.
    """
    per_user: dict[int, list[Job]] = {}
    for job in sorted(queued, key=lambda j: j.created):
        per_user.setdefault(job.user_id, []).append(job)
    turn = {user: (last_started.get(user, float("-inf")), jobs[0].created) for user, jobs in per_user.items()}
    order: list[Job] = []
    clock = max([*last_started.values(), *(j.created for j in queued), 0.0])
    while per_user:
        user = min(per_user, key=lambda u: turn[u])
        order.append(per_user[user].pop(0))
        if per_user[user]:
            clock += 1.0
            turn[user] = (clock, per_user[user][0].created)
        else:
            del per_user[user]
    return order
