"""What members do with jobs, in process: the refusals the job kinds decide (said before anything is read,
stored or queued), and what 🔁, Vary, Restyle and Upscale store and copy. (Their answers and posts in the
channel are tested through the Discord emulator in ``tests/cogs/``.)"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import discord
import pytest

from bot.actions.job_actions import JobActions
from bot.admission.refusal import Refusal
from bot.admission.settings import GuildSettings, SettingsStore
from bot.queue.files import JobFiles
from bot.queue.jobs import Job, JobState, new_job_id
from bot.queue.scheduler import Scheduler
from bot.queue.store import Store
from contract.limits import DEFAULT_UPSCALER
from contract.moves import STRENGTHS
from contract.protocol import RenderRequest


def job(state: JobState = JobState.DONE, **fields) -> Job:
    return Job("ab12", 1, 2, 3, "member", RenderRequest(fields.pop("prompt", "a fairy house"), **fields), state)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"model": "tiny-esrgan", "init_image": "p.png"}, "Job ab12 is an upscale; it is not painted again with a new seed."),
        (
            {"prompt": "", "model": "tiny-inception", "init_image": "p.png"},
            "Job ab12 is a DeepDream; dream again with /deepdream; it is not painted again with a new seed.",
        ),
    ],
)
async def test_again_refuses_what_its_kind_does_not_paint_again(fields, message):
    actions = JobActions(None, None, None, None, None, max_queued=10)  # a refusal touches none of them
    with pytest.raises(Refusal) as refused:
        await actions.again(job(**fields), None)
    assert str(refused.value) == message


@pytest.mark.parametrize(
    ("made", "number", "message"),
    [
        (job(model="tiny-esrgan", init_image="p.png"), 1, "Job ab12 is an upscale; it has no picture to start from."),
        (job(zoom_frames=3), 1, "Job ab12 is a film; it has no picture to start from."),
        (job(JobState.RUNNING), 1, "Job ab12 has not finished; wait for its picture."),
        (job(count=2), 3, "Job ab12 has 2 picture(s), not a number 3."),
    ],
)
def test_a_picture_to_start_from_must_exist(made, number, message):
    with pytest.raises(Refusal) as refused:
        JobActions._candidate(made, number)
    assert str(refused.value) == message


def test_each_candidate_of_a_set_and_a_dream_can_start_another_job():
    assert JobActions._candidate(job(count=3, seed=10), 2).seed == 11
    assert JobActions._candidate(job(prompt="", model="tiny-inception", init_image="p.png"), 1).model == "tiny-inception"


# The actions' effects on the store and the job files, in process: a real store, settings and files; the
# scheduler is never run, so every new job waits where the action put it.


@dataclass(frozen=True)
class Asker:
    id: int
    display_name: str


class Announced:
    """A reporter that notes the jobs whose message would be posted."""

    def __init__(self) -> None:
        self.jobs: list[Job] = []
        self.cancelled_jobs: list[str] = []

    async def queued(self, job: Job, position: int) -> None:
        self.jobs.append(job)

    async def cancelled(self, job: Job) -> None:
        self.cancelled_jobs.append(job.id)

    async def queue_moved(self, order: list[Job]) -> None:
        pass


@pytest.fixture
async def made(tmp_path) -> AsyncIterator[tuple[JobActions, Announced]]:
    announced = Announced()
    actions = await actions_on(tmp_path, announced)
    yield actions, announced
    await actions.store.close()


async def actions_on(tmp_path, reporter: Announced) -> JobActions:
    """The actions over a fresh store and files, posting through ``reporter``."""
    store = await Store.open(tmp_path / "db.sqlite3")
    files = JobFiles(tmp_path / "files")
    base = GuildSettings(model="tiny-vqgan", steps=8, size="32x32", max_count=4, jobs_per_user=5)
    settings = SettingsStore(store, base)
    return JobActions(store, settings, Scheduler(store, None, reporter, files), reporter, files, max_queued=20)


BOB = Asker(7, "bob")
PICTURE = b"\x89PNG a painted picture"


async def done(actions: JobActions, **fields) -> Job:
    """A finished job of member 3 whose pictures (a grid's candidates, or its one result) are on disk."""
    request = RenderRequest(fields.pop("prompt", "a fairy house"), perceptor="tiny-clip", **fields)
    original = await actions.store.add_job(Job(new_job_id(), 1, 2, 3, "alice", request))
    for number in range(1, request.count + 1):
        await actions.files.write(actions.files.picture(original, number), PICTURE + bytes([number]))
    return await actions.store.finish(original.id, JobState.DONE)


async def test_again_paints_the_same_request_with_a_new_seed_and_its_own_copies_of_the_pictures(made, tmp_path):
    actions, announced = made
    init, steer = tmp_path / "init.png", tmp_path / "steer.png"
    init.write_bytes(b"start"), steer.write_bytes(b"steer")
    original = await done(
        actions, model="pixels", steps=12, width=48, height=32, seed=5, init_image=str(init), init_weight=0.5,
        init_noise=0.25, image_prompts=(str(steer),), cutn=8, count=2,
    )  # fmt: skip
    again = await actions.again(original, BOB)
    asked, new = original.request, again.request
    assert new.seed != asked.seed and (again.user_id, again.parent) == (BOB.id, original.id)
    assert dataclasses.replace(new, seed=asked.seed, init_image=asked.init_image, image_prompts=asked.image_prompts) == asked
    assert new.init_image == str(actions.files.init_image(again.id)) and Path(new.init_image).read_bytes() == b"start"
    assert [Path(p).read_bytes() for p in new.image_prompts] == [b"steer"]
    assert [job.id for job in announced.jobs] == [again.id] and (await actions.store.job(again.id)).request == new


async def test_subtle_and_strong_differ_in_the_noise_and_the_pull_the_server_sets_and_nothing_else(made):
    actions, _ = made
    original = await done(actions, model="pixels", steps=12, width=48, height=32, seed=5)
    subtle = (await actions.vary(original, 1, BOB, "subtle")).request
    strong = (await actions.vary(original, 1, BOB, "strong")).request
    assert (subtle.init_noise, subtle.init_weight) == (0.2, 0.8) and (strong.init_noise, strong.init_weight) == (0.6, 0.4)
    same = {"seed": 0, "init_image": "", "init_noise": 0.0, "init_weight": 0.0}
    assert dataclasses.replace(subtle, **same) == dataclasses.replace(strong, **same), "only the strength differs"
    await actions.settings.set(original.guild_id, "vary_subtle", "0.05")
    await actions.settings.set(original.guild_id, "vary_grid", "subtle")
    assert (await actions.vary(original, 1, BOB, "subtle")).request.init_noise == 0.05
    assert (await actions.vary(original, 1, BOB)).request.init_weight == 0.95, "V1-V4 follow vary_grid"


async def test_vary_restyle_and_upscale_start_from_the_picture_they_name(made):
    actions, _ = made
    original = await done(actions, model="pixels", steps=12, width=48, height=32, seed=5, count=3, init_weight=0.3)
    varied = (await actions.vary(original, 2, BOB)).request
    restyled = (await actions.restyle(original, 3, "a stormy sea", BOB)).request
    upscaled = (await actions.upscale(original, 1, BOB)).request
    for request, number in ((varied, 2), (restyled, 3), (upscaled, 1)):
        assert Path(request.init_image).read_bytes() == PICTURE + bytes([number])
    candidate = original.request.candidates[1]
    assert (varied.init_noise, varied.init_weight) == (STRENGTHS["strong"], 1 - STRENGTHS["strong"]), "a grid's: strong"
    assert (
        varied.count == 1
        and varied.seed != candidate.seed
        and (varied.model, varied.size, varied.steps) == ("pixels", "48x32", 12)
    )
    assert (restyled.prompt, restyled.init_weight, restyled.init_noise, restyled.count) == ("a stormy sea", 0.0, 0.0, 1)
    assert (upscaled.model, upscaled.size, upscaled.steps, upscaled.seed) == (
        DEFAULT_UPSCALER, "48x32", 1, original.request.candidates[0].seed,
    )  # fmt: skip


async def test_a_picture_too_large_to_upscale_is_refused_before_anything_is_copied(made):
    actions, announced = made
    original = await done(actions, model="pixels", steps=12, width=1040, height=16, count=2)
    before = await actions.store.jobs()
    with pytest.raises(Refusal) as refused:
        await actions.upscale(original, 2, BOB)
    assert str(refused.value) == f"Job {original.id}'s picture is 1040x16; pictures up to 1024 a side are upscaled."
    assert await actions.store.jobs() == before and announced.jobs == []


async def test_a_refused_action_queues_nothing_and_copies_no_picture(made):
    actions, announced = made
    original = await done(actions, model="pixels", steps=12, width=48, height=32)
    await actions.settings.set(1, "max_steps", "10")
    before = await actions.store.jobs()
    with pytest.raises(Refusal, match="Steps must be between 1 and 10"):
        await actions.again(original, BOB)
    with pytest.raises(Refusal, match="Steps must be between 1 and 10"):
        await actions.vary(original, 1, BOB)
    assert await actions.store.jobs() == before and announced.jobs == []
    assert sorted(path.name for path in actions.files.root.iterdir()) == [original.id], "no other job's files"


ALICE = Asker(3, "alice")  # the member whose jobs ``done`` makes


class Refusing(Announced):
    """A reporter whose channel refuses the bot's posts."""

    async def queued(self, job: Job, position: int) -> None:
        raise discord.Forbidden(
            SimpleNamespace(status=403, reason="Forbidden"), {"code": 50013, "message": "Missing Permissions"}
        )


async def test_only_the_owner_cancels_and_a_job_is_cancelled_once(made):
    actions, announced = made
    waiting = await actions.store.add_job(Job(new_job_id(), 1, 2, ALICE.id, "alice", RenderRequest("a castle")))
    other = await actions.store.add_job(Job(new_job_id(), 1, 2, BOB.id, "bob", RenderRequest("a tower")))
    with pytest.raises(Refusal, match=f"^Only the member who asked for job {waiting.id} or a moderator can cancel it.$"):
        await actions.cancel(waiting, BOB)
    assert (await actions.store.job(waiting.id)).state == JobState.QUEUED
    await actions.cancel(waiting, ALICE)
    assert (await actions.store.job(waiting.id)).state == JobState.CANCELLED and announced.cancelled_jobs == [waiting.id]
    assert (await actions.store.job(other.id)).state == JobState.QUEUED, "the other member's job is untouched"
    with pytest.raises(Refusal, match=f"^Job {waiting.id} has already been cancelled.$"):
        await actions.cancel(await actions.store.job(waiting.id), ALICE)
    finished = await done(actions)
    with pytest.raises(Refusal, match=f"^Job {finished.id} has already finished.$"):  # it said "has already done"
        await actions.cancel(finished, ALICE)


async def test_the_files_a_result_offers_are_its_own(made):
    actions, _ = made
    original = await done(actions, model="clipdraw")
    with pytest.raises(Refusal, match="^There is no SVG of that job"):
        await actions.svg(original, ALICE)
    with pytest.raises(Refusal, match="^There is no animation of that job"):
        await actions.animation(original, ALICE)
    await actions.files.write(actions.files.svg(original.id), b"<svg/>")
    await actions.files.write(actions.files.folder(original.id) / "animation.gif", b"GIF89a")
    svg, gif = await actions.svg(original, ALICE), await actions.animation(original, ALICE)
    assert (svg.filename, svg.fp.read()) == (f"dream-{original.id}.svg", b"<svg/>")
    assert (gif.filename, gif.fp.read()) == (f"dream-{original.id}.gif", b"GIF89a"), "an older result's GIF"
    await actions.files.write(actions.files.animation(original.id), b"MP4")
    mp4 = await actions.animation(original, ALICE)
    assert (mp4.filename, mp4.fp.read()) == (f"dream-{original.id}.mp4", b"MP4")


async def test_a_job_whose_message_the_channel_refuses_is_cancelled_with_the_reason(tmp_path):
    refusing = Refusing()
    actions = await actions_on(tmp_path, refusing)
    store = actions.store
    try:
        original = await done(actions, model="pixels", steps=12, width=48, height=32)
        with pytest.raises(Refusal) as refused:
            await actions.again(original, BOB)
        (job,) = [j for j in await store.jobs() if j.id != original.id]
        assert str(refused.value) == f"I cannot post in this channel (Missing Permissions), so job `{job.id}` was cancelled."
        assert job.state == JobState.CANCELLED and refusing.cancelled_jobs == [job.id]
    finally:
        await store.close()


async def test_a_button_reaches_its_job_only_from_the_jobs_own_message_and_server(made):
    actions, _ = made
    original = await done(actions)
    other = await done(actions)
    await actions.store.link_message(700, original.id)
    await actions.store.link_message(701, other.id)
    assert (await actions.job_on(original.id, 1, 700)).id == original.id
    for guild, message in ((2, 700), (1, 701), (1, 702), (1, None)):  # another server, another job's message, none
        with pytest.raises(Refusal, match="^That button does not belong to this message"):
            await actions.job_on(original.id, guild, message)


async def test_twenty_members_at_once_fill_the_servers_queue_to_its_cap_and_no_further(tmp_path):
    """Every member passes the first count while their requests are made (an init image downloading); the cap is
    counted again where the job is stored. Another server's queue is its own."""
    actions = await actions_on(tmp_path, Announced())
    actions.max_queued = 3
    making: list[str] = []
    everyone_counted = asyncio.Event()

    async def make_request(settings, job_id: str) -> RenderRequest:
        making.append(job_id)
        if len(making) == 20:
            everyone_counted.set()
        await everyone_counted.wait()
        return RenderRequest("a fairy house", model="tiny-vqgan", perceptor="tiny-clip")

    try:
        asked = [actions.submit(1, 2, Asker(member, f"m{member}"), make_request) for member in range(20)]
        outcomes = await asyncio.gather(*asked, return_exceptions=True)
        refusals = {str(outcome) for outcome in outcomes if isinstance(outcome, Refusal)}
        assert len(making) == 20 and sum(isinstance(outcome, tuple) for outcome in outcomes) == 3
        assert refusals == {"The queue of this server is full (3 jobs wait); try again when some have run."}
        assert await actions.store.count_queued(1) == 3
        assert isinstance(await actions.submit(9, 2, Asker(1, "m1"), make_request), tuple), "another server's queue"
    finally:
        await actions.store.close()


def asked_for(settings: GuildSettings) -> RenderRequest:
    """What a member asks for: the settings' defaults, as /dream builds them."""
    return RenderRequest("a lighthouse", model=settings.model, steps=settings.steps, perceptor="tiny-clip", width=32, height=32)


async def submit(actions: JobActions, guild: int = 1, channel: int = 2, user: Asker = BOB) -> tuple[Job, int]:
    async def make_request(settings: GuildSettings, job_id: str) -> RenderRequest:
        return asked_for(settings)

    return await actions.submit(guild, channel, user, make_request)


async def waiting(actions: JobActions, guild: int, user: int = 3) -> Job:
    return await actions.store.add_job(Job(new_job_id(), guild, 2, user, "someone", RenderRequest("x", perceptor="tiny-clip")))


async def test_the_queue_cap_counts_this_servers_waiting_jobs_only(made):
    actions, _ = made
    actions.max_queued = 2
    for _ in range(2):
        await waiting(actions, guild=9)  # another server's full queue
    await submit(actions)  # this server's queue was empty
    await waiting(actions, guild=1)
    with pytest.raises(Refusal, match=r"The queue of this server is full \(2 jobs wait\)"):
        await submit(actions)


async def test_the_member_cap_counts_this_members_jobs_in_this_server_only(made):
    actions, _ = made
    await actions.settings.set(1, "jobs_per_user", "1")
    await waiting(actions, guild=9, user=BOB.id)  # bob's job elsewhere
    await waiting(actions, guild=1, user=3)  # another member's job here
    await submit(actions)
    with pytest.raises(Refusal, match="already have 1 job"):
        await submit(actions)


async def test_a_request_is_judged_by_its_channels_settings_and_a_thread_by_its_parents(made):
    actions, _ = made
    await actions.settings.set(1, "channels", "<#2>")
    await actions.settings.set(1, "steps", "6", channel_id=2)
    with pytest.raises(Refusal, match="not painted in this channel"):
        await submit(actions, channel=5)
    job, _ = await submit(actions, channel=2)
    assert job.request.steps == 6 and job.channel_id == 2
    actions.settings.learn_thread(77, 2)
    threaded, _ = await submit(actions, channel=77)
    assert threaded.request.steps == 6 and threaded.channel_id == 77, "judged as #2, posted in the thread"


async def test_each_new_job_is_told_its_place_in_line(made):
    actions, _ = made
    places = [(await submit(actions, user=Asker(id, f"m{id}")))[1] for id in (11, 12, 13)]
    assert places == [1, 2, 3]


async def test_a_job_the_store_no_longer_has_is_said_so(made):
    actions, _ = made
    with pytest.raises(Refusal) as refused:
        await actions.job("0123456789ab")
    assert str(refused.value) == "That job is no longer known to the bot."


class Message:
    def __init__(self) -> None:
        self.deleted = 0

    async def delete(self) -> None:
        self.deleted += 1


async def test_delete_takes_down_a_finished_picture_of_its_owner_only_and_never_a_running_one(made):
    actions, _ = made
    finished, message = await done(actions), Message()
    with pytest.raises(Refusal, match=f"Only the member who asked for job {finished.id} or a moderator can delete it"):
        await actions.delete(finished, BOB, message)
    owner = Asker(3, "alice")
    running = await actions.store.add_job(Job(new_job_id(), 1, 2, 3, "alice", RenderRequest("x", perceptor="tiny-clip")))
    with pytest.raises(Refusal, match=f"job {running.id} is still queued; cancel it with"):
        await actions.delete(running, owner, message)
    assert message.deleted == 0
    await actions.delete(finished, owner, message)
    assert message.deleted == 1
