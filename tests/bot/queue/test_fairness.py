"""The queue's order. Round robin: no member starves another, and the fast heap order is the rule written plainly.
Least use: the lightest member goes next, nobody waits behind more than a bounded amount of others' work, and a
server's rule stays within that server's places."""

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.queue.fairness import least_used, round_robin, within_servers
from bot.queue.jobs import Job
from contract.protocol import RenderRequest


def job(job_id: str, user: int, created: float, guild: int = 1, steps: int = 300) -> Job:
    return Job(job_id, guild, 1, user, f"user{user}", RenderRequest("x", steps=steps), created=created)


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


def cost(job: Job) -> float:
    """A stand-in cost model: a step costs a second."""
    return float(job.request.steps)


def test_a_light_members_job_overtakes_a_heavy_members_jobs():
    heavy = [job(f"h{i}", 1, float(i)) for i in range(3)]
    light = job("l0", 2, 10.0)
    turns = round_robin([*heavy, light], {1: 1.0, 2: 5.0})
    assert [j.id for j in turns] == ["h0", "l0", "h1", "h2"], "by turns, the heavy member's turn comes first"
    order = least_used([*heavy, light], {1: 3000.0, 2: 100.0}, cost, turns)
    assert [j.id for j in order] == ["l0", "h0", "h1", "h2"]
    # once the light member has used more than the heavy one's use and queued work, the heavy one goes first
    assert [j.id for j in least_used([*heavy, light], {1: 0.0, 2: 5000.0}, cost, turns)] == ["h0", "h1", "h2", "l0"]


def test_use_is_counted_as_jobs_are_placed_so_members_alternate_once_even():
    alice = [job(f"a{i}", 1, float(i), steps=100) for i in range(4)]
    bob = [job(f"b{i}", 2, float(10 + i), steps=100) for i in range(2)]
    turns = round_robin([*alice, *bob], {})
    order = least_used([*alice, *bob], {1: 0.0, 2: 250.0}, cost, turns)
    # alice is 250 s behind: she goes 3 times (0, 100, 200 < 250), then they alternate by use
    assert [j.id for j in order] == ["a0", "a1", "a2", "b0", "a3", "b1"]


def test_ties_go_by_turns():
    a, b = job("a0", 1, 0.0), job("b0", 2, 1.0)
    assert [j.id for j in least_used([a, b], {}, cost, [b, a])] == ["b0", "a0"]
    assert [j.id for j in least_used([a, b], {}, cost, [a, b])] == ["a0", "b0"]


# Jobs of 50 to 500 steps (the stand-in cost: seconds), and each member's use over the window.
COSTLY = st.lists(
    st.builds(lambda user, created, steps: (user, float(created), steps), st.integers(1, 6), st.integers(0, 20),
              st.integers(50, 500)),
    max_size=40,
).map(lambda drawn: [job(f"j{i}", user, created, steps=steps) for i, (user, created, steps) in enumerate(drawn)])  # fmt: skip
USED = st.dictionaries(st.integers(1, 6), st.integers(0, 5000).map(float), max_size=6)


@settings(max_examples=300, deadline=None)
@given(queued=COSTLY, used=USED, started=STARTS)
def test_least_use_places_every_job_once_each_member_in_order_and_nobody_waits_unboundedly(queued, used, started):
    order = least_used(queued, used, cost, round_robin(queued, started))
    assert sorted(j.id for j in order) == sorted(j.id for j in queued)
    for member in {j.user_id for j in queued}:
        own = [j for j in order if j.user_id == member]
        assert own == sorted(own, key=lambda j: j.created), "a member's jobs keep their order"
        first = order.index(own[0])
        for other in {j.user_id for j in order[:first]}:
            ahead = sum(cost(j) for j in order[:first] if j.user_id == other)
            largest = max(cost(j) for j in queued if j.user_id == other)
            bound = max(0.0, used.get(member, 0.0) - used.get(other, 0.0)) + largest
            assert ahead <= bound, (member, other, ahead, bound)


@settings(max_examples=300, deadline=None)
@given(queued=COSTLY, started=STARTS)
def test_a_servers_own_order_stays_in_the_places_its_jobs_hold(queued, started):
    for i, j in enumerate(queued):  # two servers, every third job on the second
        queued[i] = job(j.id, j.user_id, j.created, guild=2 if i % 3 == 0 else 1, steps=j.request.steps)
    turns = round_robin(queued, started)
    mixed = within_servers(turns, {2: lambda jobs: list(reversed(jobs))})
    assert [j.guild_id for j in mixed] == [j.guild_id for j in turns], "each server keeps its places"
    assert [j for j in mixed if j.guild_id == 1] == [j for j in turns if j.guild_id == 1], "the other is untouched"
    assert [j for j in mixed if j.guild_id == 2] == list(reversed([j for j in turns if j.guild_id == 2]))
    assert within_servers(turns, {}) == turns
