"""The bot's side of remote workers in this process, against a real NATS server and in-process workers whose
engines are stand-ins: who may take a job, each job painted once with its events in order, a cancel that
reaches the worker, and events kept for a bot that comes back. (The real processes: ``test_remote_workers.py``.)"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator

import pytest

from bot.config import QueueConfig
from bot.executors.nats.dispatch import Dispatcher
from contract.protocol import Finished, Progress, Started
from tests.bot.executors.nats.test_worker import CLAIM, StandInEngine, picture, request, server, working  # noqa: F401
from tests.support.waiting import until


@pytest.fixture
async def dispatcher(server) -> AsyncIterator[Dispatcher]:  # noqa: F811
    dispatcher = Dispatcher(QueueConfig(url=server.url, claim_timeout=CLAIM))
    await dispatcher.start()
    yield dispatcher
    await dispatcher.stop()


async def events_of(dispatcher: Dispatcher, job_id: str, asked, concepts=()) -> list:
    return [event async for event in dispatcher.render(job_id, asked, concepts)]


async def test_a_job_goes_to_a_worker_once_and_its_events_come_back_ending_with_its_picture(dispatcher, server):  # noqa: F811
    engine = StandInEngine(steps=3)
    async with working(server.url, "solo", engine):
        await until(lambda: dispatcher.can_take("j1", request(), 0))
        events = await events_of(dispatcher, "j1", request(), ("gore", "a weapon"))
    # Progress travels on plain NATS and Started on JetStream: a first step may overtake Started, never the end.
    assert sum(isinstance(event, Started) for event in events) == 1 and isinstance(events[-1], Finished)
    assert [event.step for event in events if isinstance(event, Progress)] == [1, 2, 3]
    assert events[-1].png == picture("j1") and events[-1].worker == "solo", "who painted it, as the bot heard it"
    assert [job_id for job_id, _ in engine.rendered] == ["j1"]
    assert engine.concepts == {"j1": ("gore", "a weapon")}, "the worker's engine scores what the bot asked"


async def test_only_an_online_free_worker_that_holds_the_model_and_paints_the_size_can_take_a_job(dispatcher, server):  # noqa: F811
    assert not dispatcher.can_take("j1", request(), 0) and dispatcher.painters_of(request()) == []
    async with working(server.url, "vqgan", StandInEngine(steps=30, pause=0.1)):
        await until(lambda: dispatcher.online())
        assert [w.worker_id for w in dispatcher.painters_of(request())] == ["vqgan"]
        assert dispatcher.painters_of(request("pixels")) == [] and not dispatcher.can_take("p", request("pixels"), 0)
        big = dataclasses.replace(request(), width=4096)
        assert dispatcher.painters_of(big) == [] and not dispatcher.can_take("b", big, 0)
        assert dispatcher.can_take("j1", request(), 0)
        assert not dispatcher.can_take("j2", request(), 1), "the one free worker is promised to a job handed out"
        painting = asyncio.create_task(events_of(dispatcher, "j1", request()))
        await until(lambda: any(w.job_id == "j1" for w in dispatcher.online()))
        assert not dispatcher.can_take("j2", request(), 1), "the worker is busy"
        assert dispatcher.can_take("j1", request(), 1), "a job a worker paints already can always be followed"
        await dispatcher.cancel("j1")
        await painting


async def test_a_cancel_reaches_the_worker_that_paints_the_job_even_one_given_before_it_started(dispatcher, server):  # noqa: F811
    """The stand-in engine notes a cancel and paints on (a real one stops): what is tested is where the cancel goes."""
    engine = StandInEngine(steps=40, pause=0.02)
    async with working(server.url, "solo", engine):
        await until(lambda: dispatcher.can_take("j1", request(), 0))
        seen: list = []

        async def follow(job_id: str) -> None:
            async for event in dispatcher.render(job_id, request()):
                seen.append(event)

        following = asyncio.create_task(follow("j1"))
        await until(lambda: any(isinstance(event, Progress) for event in seen))
        await dispatcher.cancel("j1")
        await until(lambda: engine.cancelled == ["j1"])
        await following
    assert isinstance(seen[-1], Finished)
    waiting = asyncio.create_task(follow("j2"))  # no worker online: the job waits in JetStream
    await until(lambda: "j2" in dispatcher._jobs)
    await dispatcher.cancel("j2")  # told to no one yet
    async with working(server.url, "late", engine):
        await until(lambda: engine.cancelled == ["j1", "j2"])  # told again once it started
        await waiting


class HeldEngine(StandInEngine):
    """A stand-in whose picture waits until the test lets it go."""

    def __init__(self) -> None:
        super().__init__(steps=1)
        self.release = asyncio.Event()

    async def render(self, job_id, request, concepts=()):
        async for event in super().render(job_id, request):
            if isinstance(event, Finished):
                await self.release.wait()
            yield event


async def test_events_of_a_job_nobody_waits_for_are_kept_for_the_bot_that_comes_back(server):  # noqa: F811
    """A bot that restarts while its job is painted follows it again: the picture stored meanwhile comes back to
    it, and the job is not handed out a second time."""
    engine = HeldEngine()
    async with working(server.url, "solo", engine):
        before = Dispatcher(QueueConfig(url=server.url, claim_timeout=CLAIM))
        await before.start()
        await until(lambda: before.can_take("j1", request(), 0))
        events = before.render("j1", request())
        async for event in events:
            if isinstance(event, Started):
                break
        await events.aclose()
        await before.stop()  # the bot goes away mid-job
        after = Dispatcher(QueueConfig(url=server.url, claim_timeout=CLAIM))
        await after.start()
        try:
            engine.release.set()
            await until(lambda: any(data["kind"] == "stored" for _, _, data in after._early.get("j1", [])))
            followed = await events_of(after, "j1", request())
        finally:
            await after.stop()
    assert isinstance(followed[-1], Finished) and followed[-1].png == picture("j1")
    assert len(engine.rendered) == 1


async def test_a_free_worker_is_offered_the_next_job_as_soon_as_the_first_is_taken(dispatcher, server):  # noqa: F811
    """Two workers, two jobs: once a worker holds the first, the scheduler is told and may hand the second to the
    other worker at once. (It used to look again only when the first job ended: the second worker idled meanwhile.)"""
    first, second = HeldEngine(), HeldEngine()
    offered: list[bool] = []  # what the scheduler would see each time it is told to look again, once j1 is out
    async with working(server.url, "one", first), working(server.url, "two", second):
        await until(lambda: len(dispatcher.online()) == 2)
        dispatcher.on_change = lambda: offered.append(dispatcher.can_take("j2", request(), 1))
        painting = asyncio.create_task(events_of(dispatcher, "j1", request()))
        await until(lambda: first.rendered or second.rendered)
        await until(lambda: any(offered), timeout=30)  # ~0.1 s; without the news, only when j1 ends
        assert not painting.done(), "offered while the first job is still painted"
        first.release.set()
        second.release.set()
        await painting


async def test_a_job_goes_only_to_a_worker_with_the_memory_it_needs_and_one_none_can_hold_is_refused(dispatcher, server):  # noqa: F811
    """Two workers of 4 and 16 GiB: a 512x384 VQGAN (about 7 GiB predicted) is the big one's, a 256x256 either's,
    and a 1024x1024 one (about 28 GiB) fits neither: admission refuses it with the size that fits 16 GiB."""
    from bot.admission.refusal import Refusal
    from bot.usage.memory import check_fits, largest_fitting

    vqgan = "vqgan-imagenet-f16-16384"
    large, small = StandInEngine(memory_gib=16.0), StandInEngine(memory_gib=4.0)
    async with working(server.url, "large", large, (vqgan,)), working(server.url, "small", small, (vqgan,)):
        await until(lambda: len(dispatcher.online()) == 2 and all(w.memory_gib for w in dispatcher.online()))
        wide = dataclasses.replace(request(vqgan), width=512, height=384)
        narrow = dataclasses.replace(request(vqgan), width=256, height=256)
        assert [w.worker_id for w in dispatcher.painters_of(wide)] == ["large"]
        assert sorted(w.worker_id for w in dispatcher.painters_of(narrow)) == ["large", "small"]
        events = await events_of(dispatcher, "wide", wide)
        assert isinstance(events[-1], Finished) and [j for j, _ in large.rendered] == ["wide"] and not small.rendered
        assert sorted(dispatcher.memories()) == [4.0, 16.0]
        huge = dataclasses.replace(request(vqgan), width=1024, height=1024)
        with pytest.raises(Refusal, match=r"The largest size that fits is (\d+)x\1;") as refused:
            check_fits(huge, dispatcher.memories())
        assert f"{largest_fitting(huge, 16.0)[0]}x" in str(refused.value)
