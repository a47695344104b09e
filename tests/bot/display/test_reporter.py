"""The reporter's own rules, with a real store and a channel that records what the bot would send: one message
per job, places in line edited only where they changed, and a waiting job's place never written over a job
that has started. (Previews, results and films through Discord itself: ``tests/cogs/``.)"""

from __future__ import annotations

import asyncio
import io
import itertools
import sqlite3

import pytest
from PIL import Image

from bot.admission.settings import GuildSettings, SettingsStore
from bot.display import embeds
from bot.display.reporter import SHOWN_POSITIONS, DiscordReporter
from bot.moderation.gate import PictureGate
from bot.moderation.pictures import Checker
from bot.queue.jobs import Job, JobState
from bot.queue.store import Store
from contract.protocol import RenderRequest

ids = itertools.count(1000)


def unchecked(store: Store) -> PictureGate:
    """No picture check and no concepts: every picture is posted as it is (tests/cogs/test_moderation.py checks them)."""
    settings = SettingsStore(store, GuildSettings("tiny-vqgan", 50, "64x64"))
    return PictureGate(Checker([]), store, settings, lambda channel: False)


def picture() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (8, 8)).save(out, format="PNG")
    return out.getvalue()


class Message:
    def __init__(self, channel: Channel, message_id: int) -> None:
        self.channel, self.id = channel, message_id

    async def edit(self, **fields) -> None:
        self.channel.log.append(("edit", self.id, fields["embed"].title))


class Channel:
    def __init__(self) -> None:
        self.log: list[tuple] = []

    async def send(self, embed, files, view) -> Message:
        message = Message(self, next(ids))
        self.log.append(("send", message.id, embed.title))
        return message

    def get_partial_message(self, message_id: int) -> Message:
        return Message(self, message_id)


class Client:
    def __init__(self) -> None:
        self.channel = Channel()

    def get_partial_messageable(self, channel_id: int, guild_id: int) -> Channel:
        return self.channel

    def get_guild(self, guild_id: int) -> None:
        return None


@pytest.fixture
async def store(tmp_path):
    store = await Store.open(tmp_path / "bot.sqlite3")
    yield store
    await store.close()


async def waiting(store: Store, count: int) -> list[Job]:
    jobs = [Job(f"{n:04x}", 1, 2, 3, "member", RenderRequest(f"picture {n}"), created=n) for n in range(count)]
    return [await store.add_job(job) for job in jobs]


async def settled(reporter: DiscordReporter) -> None:
    while reporter._tasks:
        await asyncio.sleep(0.01)


async def test_a_job_gets_one_message_and_later_places_edit_it(store):
    client = Client()
    reporter = DiscordReporter(client, store, 0.01, unchecked(store))
    [job] = await waiting(store, 1)
    await reporter.queued(job, 2)
    await reporter.queued(job, 1)
    [(sent, message_id, title), (edited, edited_id, later)] = client.channel.log
    assert (sent, edited, edited_id) == ("send", "edit", message_id)
    assert "position 2" in title and "next in line" in later
    assert (await store.job_for_message(message_id)).id == job.id


async def test_only_places_that_changed_are_edited_and_only_the_first_ten(store):
    client = Client()
    reporter = DiscordReporter(client, store, 0.01, unchecked(store))
    jobs = await waiting(store, SHOWN_POSITIONS + 3)
    for place, job in enumerate(jobs, 1):
        await reporter.queued(job, place)
    client.channel.log.clear()
    await reporter.queue_moved(jobs[1:])  # the first job started: everyone moves up one place
    await settled(reporter)
    edited = [entry[1] for entry in client.channel.log]
    assert len(edited) == SHOWN_POSITIONS  # the eleventh and later keep the place they were given
    client.channel.log.clear()
    await reporter.queue_moved(jobs[1:])  # nothing changed since
    await settled(reporter)
    assert client.channel.log == []


async def test_a_place_in_line_never_overwrites_a_job_that_started(store):
    client = Client()
    reporter = DiscordReporter(client, store, 0.01, unchecked(store))
    [job] = await waiting(store, 1)
    await reporter.queued(job, 1)
    await store.claim(job.id)  # it starts before the reposition arrives
    client.channel.log.clear()
    await reporter.queued(job, 3)
    assert client.channel.log == []


async def test_a_posted_result_stays_a_result_when_the_database_cannot_note_it(store, monkeypatch):
    """The database locked past every retry after the picture went out: the message keeps the picture (it used to
    be turned into "Failed" with no picture and no buttons), and the job stays to be shown again at the next start."""
    reporter = DiscordReporter(Client(), store, 0.01, unchecked(store))
    (job,) = await waiting(store, 1)

    async def locked(*_) -> None:
        raise sqlite3.OperationalError("database is locked")

    monkeypatch.setattr(store, "mark_shown", locked)
    monkeypatch.setattr(store, "link_message", locked)
    done = await store.finish(job.id, JobState.DONE, seconds=1.0)
    await reporter.finished(done, picture())
    assert [(kind, title) for kind, _, title in reporter.client.channel.log] == [("send", embeds.done(done, "x").title)]
    assert [j.id for j in await store.unshown()] == [job.id]
