"""The SQLite store: round trips, races, migrations that cannot half-happen, and a busy database."""

import asyncio
import json
import sqlite3
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


def test_job_ids_do_not_collide():
    ids = {new_job_id() for _ in range(100_000)}
    assert len(ids) == 100_000 and all(len(i) == 16 for i in ids)
