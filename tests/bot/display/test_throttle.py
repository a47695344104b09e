import asyncio
import time

from bot.display.throttle import PostBudget, Throttle


async def test_latest_frame_wins_and_edits_never_overlap():
    applied: list[int] = []
    busy = False

    async def apply(item: int) -> None:
        nonlocal busy
        assert not busy, "two edits overlapped"
        busy = True
        await asyncio.sleep(0.02)
        applied.append(item)
        busy = False

    throttle = Throttle(apply, interval=0.1)
    for item in range(200):
        throttle.push(item)
        await asyncio.sleep(0.002)
    await asyncio.sleep(0.25)
    await throttle.close()
    assert applied[-1] == 199, "the newest frame must be shown last"
    assert applied == sorted(applied)
    assert 2 <= len(applied) <= 10, f"{len(applied)} edits for about 0.5s at one per 0.1s"


async def test_close_waits_for_the_edit_in_flight_and_drops_the_rest():
    applied: list[str] = []
    started = asyncio.Event()

    async def apply(item: str) -> None:
        started.set()
        await asyncio.sleep(0.1)
        applied.append(item)

    throttle = Throttle(apply, interval=5.0)
    throttle.push("first")
    await started.wait()
    throttle.push("second")
    await asyncio.wait_for(throttle.close(), 1.0)
    assert applied == ["first"]


async def test_a_failing_edit_does_not_stop_later_ones():
    applied: list[int] = []

    async def apply(item: int) -> None:
        if item == 0:
            raise RuntimeError("message deleted")
        applied.append(item)

    throttle = Throttle(apply, interval=0.01)
    throttle.push(0)
    await asyncio.sleep(0.05)
    throttle.push(1)
    await asyncio.sleep(0.05)
    await throttle.close()
    assert applied == [1]


def test_a_post_budget_refills_as_its_window_slides(monkeypatch):
    now = [1000.0]
    monkeypatch.setattr(time, "monotonic", lambda: now[0])
    budget = PostBudget(posts=2, window=60.0)
    assert [budget.allow(7) for _ in range(3)] == [True, True, False]
    assert budget.allow(8), "each member has a budget of their own"
    now[0] += 59.0
    assert not budget.allow(7)
    now[0] += 1.0
    assert [budget.allow(7) for _ in range(3)] == [True, True, False], "both posts of t=1000 left the window"
