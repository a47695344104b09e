import sqlite3
from dataclasses import replace

import pytest

from bot.jobs import Job, JobState
from bot.store import Store, StoreError
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
