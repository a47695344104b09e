from bot.fairness import round_robin
from bot.jobs import Job
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
