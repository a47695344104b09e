"""Round-robin order: no member starves another, and the fast heap order is the rule written plainly."""

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.queue.fairness import round_robin
from bot.queue.jobs import Job
from contract.protocol import RenderRequest


def job(job_id: str, user: int, created: float) -> Job:
    return Job(job_id, 1, 1, user, f"user{user}", RenderRequest("x"), created=created)


def test_one_members_many_jobs_do_not_starve_another():
    alice = [job(f"a{i}", 1, float(i)) for i in range(10)]
    bob = job("b0", 2, 100.0)
    carol = job("c0", 3, 101.0)
    order = [j.id for j in round_robin([*alice, bob, carol], {1: 50.0})]
    assert order[:5] == ["b0", "c0", "a0", "a1", "a2"]
    assert order == ["b0", "c0"] + [f"a{i}" for i in range(10)]


def test_members_take_turns_and_keep_their_own_order():
    jobs = [job("a0", 1, 0), job("a1", 1, 1), job("a2", 1, 2), job("b0", 2, 3), job("b1", 2, 4)]
    assert [j.id for j in round_robin(jobs, {})] == ["a0", "b0", "a1", "b1", "a2"]
    assert [j.id for j in round_robin(jobs, {1: 10.0})] == ["b0", "a0", "b1", "a1", "a2"]
    assert [j.id for j in round_robin(jobs, {1: 10.0, 2: 20.0})] == ["a0", "b0", "a1", "b1", "a2"]


def test_empty_queue():
    assert round_robin([], {1: 5.0}) == []


def reference_order(queued, last_started):
    """The rule written the slow, obvious way: each turn, the member whose turn is earliest."""
    per_user: dict[int, list[Job]] = {}
    for job in sorted(queued, key=lambda j: j.created):
        per_user.setdefault(job.user_id, []).append(job)
    turn = {user: (last_started.get(user, float("-inf")), jobs[0].created) for user, jobs in per_user.items()}
    order, clock = [], max([*last_started.values(), *(j.created for j in queued), 0.0])
    while per_user:
        user = min(per_user, key=lambda u: turn[u])
        order.append(per_user[user].pop(0))
        if per_user[user]:
            clock += 1.0
            turn[user] = (clock, per_user[user][0].created)
        else:
            del per_user[user]
    return order


# Up to 40 jobs of up to 6 members, created at whole seconds 0-20 (ties included), and past starts at 0-25.
QUEUES = st.lists(
    st.builds(lambda user, created: (user, float(created)), st.integers(1, 6), st.integers(0, 20)), max_size=40
).map(lambda drawn: [job(f"j{i}", user, created) for i, (user, created) in enumerate(drawn)])
STARTS = st.dictionaries(st.integers(1, 6), st.integers(0, 25).map(float), max_size=6)


@settings(max_examples=300, deadline=None)
@given(queued=QUEUES, started=STARTS)
def test_the_fast_order_is_the_rule(queued, started):
    assert [j.id for j in round_robin(queued, started)] == [j.id for j in reference_order(queued, started)]


def test_each_members_jobs_keep_their_creation_order_whatever_their_ids():
    later_but_smaller_id = job("a-second", 1, 2.0)
    earlier_but_larger_id = job("z-first", 1, 1.0)
    order = round_robin([later_but_smaller_id, earlier_but_larger_id], {})
    assert [j.id for j in order] == ["z-first", "a-second"]


@settings(max_examples=300, deadline=None)
@given(queued=QUEUES, started=STARTS)
def test_no_member_gets_two_turns_while_another_with_waiting_jobs_gets_none(queued, started):
    """Between two of one member's jobs, every member who still has a job waiting gets one."""
    members = [j.user_id for j in round_robin(queued, started)]
    for i, member in enumerate(members):
        if member in members[i + 1 :]:
            following = members.index(member, i + 1)
            waiting = set(members[i + 1 :]) - {member}
            assert waiting <= set(members[i + 1 : following]), (members, i)
