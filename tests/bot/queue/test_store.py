"""The SQLite store: round trips, races, migrations that cannot half-happen, and a busy database."""

import asyncio
import json
import sqlite3
import time
from dataclasses import replace

import pytest

from bot.queue import store as store_module
from bot.queue.jobs import Job, JobState, new_job_id
from bot.queue.store import MIGRATIONS, Store, StoreError
from contract.protocol import RenderRequest


def job(job_id: str, user: int = 1, created: float = 0.0) -> Job:
    request = RenderRequest("a castle | fog:0.5", seed=9, image_prompts=("x.png",))
    return Job(job_id, 10, 20, user, "alice", request, created=created)


async def test_jobs_round_trip_and_survive_reopening(tmp_path):
    path = tmp_path / "db" / "dreambot.sqlite3"
    store = await Store.open(path)
    await store.add_job(job("aa", created=1.0))
    await store.add_job(job("bb", user=2, created=2.0))
    assert (await store.claim("aa")).attempts == 1
    await store.link_message(555, "aa")
    await store.put_setting(10, "banned_words", ["gore"])
    await store.close()

    store = await Store.open(path)
    stored = await store.job("aa")
    expected = replace(job("aa", created=1.0), state=JobState.RUNNING, attempts=1, started=stored.started, message_id=555)
    assert stored == expected and stored.started
    assert (await store.job_for_message(555)).id == "aa"
    assert await store.job_for_message(556) is None
    assert [j.id for j in await store.requeue_running()] == ["aa"]
    assert [j.id for j in await store.queued()] == ["aa", "bb"]
    assert await store.settings(10) == {"banned_words": ["gore"]} and await store.settings(11) == {}
    await store.close()


async def test_claim_and_cancel_race_safely(tmp_path):
    store = await Store.open(tmp_path / "d.sqlite3")
    await store.add_job(job("aa"))
    assert await store.cancel_if_queued("aa")
    assert await store.claim("aa") is None, "a cancelled job must not start"
    assert not await store.cancel_if_queued("aa")
    await store.add_job(job("bb"))
    await store.claim("bb")
    assert not await store.cancel_if_queued("bb"), "a running job is cancelled through the engine"
    done = await store.finish("bb", JobState.DONE, seconds=1.5)
    assert done.state == JobState.DONE and done.seconds == 1.5 and done.finished
    assert await store.last_started() == {1: done.started}
    await store.close()


async def test_a_newer_schema_is_refused(tmp_path):
    path = tmp_path / "d.sqlite3"
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA user_version = 99")
    with pytest.raises(StoreError, match="newer dreambot"):
        await Store.open(path)


async def test_a_migration_that_breaks_halfway_leaves_the_database_as_it_was(tmp_path, monkeypatch):
    path = tmp_path / "d.sqlite3"
    broken = (MIGRATIONS[0].replace("CREATE TABLE settings", "CREATE TABLE settings ("),)  # the last statement fails
    monkeypatch.setattr(store_module, "MIGRATIONS", broken)
    with pytest.raises(StoreError, match="could not bring .* to schema 1"):
        await Store.open(path)
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone() == (0,)
        assert db.execute("SELECT name FROM sqlite_master").fetchall() == [], "no table of the failed step is left"
    monkeypatch.undo()
    store = await Store.open(path)  # the next start, with a working migration, starts from scratch
    await store.add_job(job("aa"))
    assert (await store.job("aa")).id == "aa"
    await store.close()


async def test_a_schema_1_database_is_upgraded_with_its_outcomes_marked_shown(tmp_path):
    path = tmp_path / "d.sqlite3"
    with sqlite3.connect(path) as db:
        db.executescript(MIGRATIONS[0] + "PRAGMA user_version = 1;")
        columns = "id, guild_id, channel_id, user_id, user_name, request, state, created"
        db.execute(
            f"INSERT INTO jobs ({columns}) VALUES (?, 1, 2, 3, 'a', ?, ?, 0)",
            ("old", json.dumps(RenderRequest("x").to_dict()), "done"),
        )
    store = await Store.open(path)
    assert await store.unshown() == []
    await store.add_job(job("new"))
    await store.finish("new", JobState.FAILED, error="broken")
    assert [j.id for j in await store.unshown()] == ["new"]
    await store.mark_shown("new", JobState.FAILED)
    assert await store.unshown() == []
    await store.close()


async def test_a_database_locked_for_5_seconds_waits_instead_of_failing(tmp_path):
    """sqlite3's own default would give up after 5 s with "database is locked"."""
    path = tmp_path / "d.sqlite3"
    store = await Store.open(path)
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another writer holds the lock for a moment

    async def release() -> None:
        await asyncio.sleep(5.5)
        other.execute("COMMIT")

    releasing = asyncio.create_task(release())
    await store.add_job(job("aa"))  # waits for the lock (busy timeout) rather than raising "database is locked"
    await releasing
    assert (await store.job("aa")).id == "aa"
    other.close()
    await store.close()


async def test_a_lock_held_past_the_busy_wait_is_waited_out_again_by_every_write(tmp_path, monkeypatch):
    """A backup or a second process holding the database longer than the busy wait (here 0.1 s, 1 s held) must not
    fail a job's bookkeeping after its picture is posted: each write is tried again, and lands once."""
    path = tmp_path / "d.sqlite3"
    store = Store(path, busy_seconds=0.1)
    await store.connect()
    await store.add_job(job("aa"))
    other = sqlite3.connect(path, isolation_level=None)
    writes = [
        lambda: store.finish("aa", JobState.DONE, seconds=2.0),
        lambda: store.mark_shown("aa", JobState.DONE),
        lambda: store.link_message(77, "aa"),
        lambda: store.put_setting(1, "steps", 9),
    ]
    for write in writes:
        other.execute("BEGIN IMMEDIATE")
        releasing = asyncio.get_running_loop().call_later(1.0, other.execute, "COMMIT")
        await write()
        releasing.cancel()
        if other.in_transaction:
            other.execute("COMMIT")
    done = await store.job("aa")
    assert (done.state, done.seconds, done.message_id) == (JobState.DONE, 2.0, 77) and await store.unshown() == []
    assert (await store.job_for_message(77)).id == "aa" and await store.settings(1) == {"steps": 9}
    monkeypatch.setattr(store_module, "WRITE_TRIES", 2)
    other.execute("BEGIN IMMEDIATE")  # held for good: the write gives up after its tries, with sqlite's own error
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        await store.mark_shown("aa", JobState.FAILED)
    other.execute("COMMIT")
    assert await store.unshown() == [], "the failed write changed nothing"
    other.close()
    await store.close()


def test_job_ids_do_not_collide():
    ids = {new_job_id() for _ in range(100_000)}
    assert len(ids) == 100_000 and all(len(i) == 16 for i in ids)


# What each query counts, and what it leaves out: another server, another member, another state.


async def filled(tmp_path) -> tuple[Store, dict[str, Job]]:
    """Jobs of members 1 and 2 in servers 10 and 11, in every state, created one after another."""
    store = await Store.open(tmp_path / "jobs.sqlite3")
    made = {}
    for name, guild, user, state in (
        ("q1", 10, 1, JobState.QUEUED), ("r1", 10, 1, JobState.RUNNING), ("d1", 10, 1, JobState.DONE),
        ("d1b", 10, 1, JobState.DONE), ("f1", 10, 1, JobState.FAILED), ("q2", 10, 2, JobState.QUEUED),
        ("d2", 10, 2, JobState.DONE), ("q1x", 11, 1, JobState.QUEUED), ("d1x", 11, 1, JobState.DONE),
    ):  # fmt: skip
        job = await store.add_job(Job(name, guild, 20, user, f"member{user}", RenderRequest(f"a picture {name}")))
        if state != JobState.QUEUED:
            job = await store.claim(name)
        if state not in (JobState.QUEUED, JobState.RUNNING):
            job = await store.finish(name, state)
        made[name] = job
        await asyncio.sleep(0.002)  # distinct created, started and finished times
    return store, made


async def test_counts_and_lists_keep_to_their_server_member_and_state(tmp_path):
    store, made = await filled(tmp_path)
    try:
        assert await store.count_queued(10) == 2 and await store.count_queued(11) == 1
        assert [j.id for j in await store.active_jobs(10, 1)] == ["q1", "r1"]
        assert await store.ended_ids() == {"d1", "d1b", "f1", "d2", "d1x"}
        assert await store.last_created(10, 1) == made["f1"].created and await store.last_created(11, 2) is None
        assert await store.last_started() == {1: made["d1x"].started, 2: made["d2"].started}
        page, total = await store.results(10, 1, limit=1)
        assert [j.id for j in page] == ["d1b"] and total == 2, "newest first, one page, done only"
        page, total = await store.results(10, 1, limit=5, offset=1)
        assert [j.id for j in page] == ["d1"] and total == 2
        assert await store.results(11, 2, limit=5) == ([], 0)
    finally:
        await store.close()


async def test_requeueing_and_outcomes_to_show_touch_only_what_they_name(tmp_path):
    store, _ = await filled(tmp_path)
    try:
        assert {j.id for j in await store.unshown()} == {"d1", "d1b", "f1", "d2", "d1x"}
        await store.mark_shown("d1", JobState.DONE)
        assert "d1" not in {j.id for j in await store.unshown()}
        await store.requeue("d2")  # ended: stays done
        await store.requeue("r1")
        assert (await store.job("d2")).state == JobState.DONE and (await store.job("r1")).state == JobState.QUEUED
        await store.claim("q1")
        await store.claim("q2")
        assert [j.id for j in await store.requeue_running(keep={"q2"})] == ["q1"]
        assert (await store.job("q1")).state == JobState.QUEUED and (await store.job("q2")).state == JobState.RUNNING
        assert not await store.cancel_if_queued("q2") and await store.cancel_if_queued("q1x")
        assert (await store.job("q1x")).state == JobState.CANCELLED
    finally:
        await store.close()


async def test_a_message_shows_the_job_it_was_last_linked_to(tmp_path):
    store, _ = await filled(tmp_path)
    try:
        await store.link_message(500, "d1")
        await store.link_message(501, "d2")
        assert (await store.job_for_message(500)).id == "d1" and (await store.job("d1")).message_id == 500
        await store.link_message(500, "d1b")
        assert (await store.job_for_message(500)).id == "d1b" and (await store.job_for_message(501)).id == "d2"
        assert await store.job_for_message(502) is None
    finally:
        await store.close()


async def test_settings_of_one_server_or_channel_leave_the_others_untouched(tmp_path):
    store = await Store.open(tmp_path / "settings.sqlite3")
    try:
        await store.put_setting(10, "steps", 40)
        await store.put_setting(10, "style", "oil")
        await store.put_setting(11, "steps", 80)
        await store.put_setting(10, "steps", 50)
        await store.delete_setting(10, "style")
        assert await store.settings(10) == {"steps": 50} and await store.settings(11) == {"steps": 80}
        await store.put_channel_setting(10, 20, "steps", 10)
        await store.put_channel_setting(10, 20, "banned_words", ["gore"])
        await store.put_channel_setting(10, 21, "steps", 12)
        await store.put_channel_setting(11, 30, "steps", 14)
        await store.delete_channel_setting(20, "steps")
        assert await store.channel_settings(10) == {20: {"banned_words": ["gore"]}, 21: {"steps": 12}}
        assert await store.channel_settings(11) == {30: {"steps": 14}} and await store.channel_settings(12) == {}
    finally:
        await store.close()


async def test_the_database_keeps_a_write_ahead_log_and_refuses_a_message_linked_to_no_job(tmp_path):
    """WAL: readers (the bot's answers) go on while a write waits; foreign keys: no message points at nothing."""
    store = await Store.open(tmp_path / "d.sqlite3")
    try:
        await store.add_job(Job("ab12", 1, 2, 3, "alice", RenderRequest("a castle")))
        assert (tmp_path / "d.sqlite3-wal").is_file()
        with pytest.raises(sqlite3.IntegrityError):
            await store.link_message(5, "nope")
        assert await store.job_for_message(5) is None
        await store.link_message(6, "ab12")
        assert (await store.job_for_message(6)).id == "ab12"
    finally:
        await store.close()


async def test_a_write_that_fails_for_another_reason_than_a_lock_is_not_tried_again(tmp_path, caplog):
    """Only "locked" and "busy" are waited out: a broken statement fails at once, without a warning of a busy database."""
    store = await Store.open(tmp_path / "d.sqlite3")
    await store.db.execute("PRAGMA query_only = ON")  # every write now fails as a read-only database's would
    with pytest.raises(sqlite3.OperationalError, match="readonly"):
        await store.put_setting(1, "steps", 9)
    assert "busy" not in caplog.text
    await store.close()


async def test_the_tries_of_a_locked_write_are_counted_from_one(tmp_path, monkeypatch, caplog):
    store = Store(tmp_path / "d.sqlite3", busy_seconds=0.05)
    await store.connect()
    monkeypatch.setattr(store_module, "WRITE_TRIES", 3)
    other = sqlite3.connect(tmp_path / "d.sqlite3", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        await store.put_setting(1, "steps", 9)
    other.execute("COMMIT")
    assert caplog.text.count("the database is busy") == 2, "three tries: two waits between them"
    other.close()
    await store.close()


async def test_a_database_in_new_folders_is_made_and_an_unopenable_one_is_named(tmp_path):
    store = await Store.open(tmp_path / "a" / "b" / "c" / "dreambot.sqlite3")
    assert (tmp_path / "a" / "b" / "c" / "dreambot.sqlite3").is_file()
    await store.close()
    (tmp_path / "folder.sqlite3").mkdir()
    with pytest.raises(StoreError, match=f"^cannot open the database {tmp_path / 'folder.sqlite3'}: "):
        await Store.open(tmp_path / "folder.sqlite3")


async def test_a_store_not_open_or_closed_says_so_instead_of_failing_later(tmp_path):
    store = Store(tmp_path / "d.sqlite3")
    with pytest.raises(StoreError, match="is not open"):
        store.db  # noqa: B018
    await store.connect()
    await store.close()
    with pytest.raises(StoreError, match="is not open"):
        store.db  # noqa: B018
    await store.close()  # twice is harmless


async def test_a_job_gets_its_creation_time_once_and_every_job_is_listed_oldest_first(tmp_path):
    store = await Store.open(tmp_path / "d.sqlite3")
    before = time.time()
    fresh = await store.add_job(job("new"))
    assert before <= fresh.created <= time.time() and (await store.job("new")).created == fresh.created
    await store.add_job(job("old", created=1.0))
    kept = await store.add_job(job("mid", created=5.0))
    assert kept.created == 5.0, "a given time is kept"
    assert [j.id for j in await store.jobs()] == ["old", "mid", "new"]
    await store.close()
