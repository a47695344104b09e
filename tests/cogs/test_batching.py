"""Batching in the bot (``[engine] batch``): waiting jobs that share model, perceptor and size run as one
batch on the engine, in round-robin order, each with its own message, previews, cancel and result."""

from __future__ import annotations

import dataclasses
import io

import pytest
from PIL import Image

from bot.config import ConfigError, load_config
from tests.support.discord_bot import dream, job_id_of, option, running_bot
from tests.support.discord_emulator import Member


@pytest.fixture
def batching(config):
    return dataclasses.replace(config, engine=dataclasses.replace(config.engine, batch=3))


async def test_compatible_jobs_share_a_batch_in_their_turn_and_cancel_alone(batching, emulator, forked_engine):
    alice, bob, carol, dave = (Member(emulator.snowflake(), name) for name in ("alice", "bob", "carol", "dave"))
    async with running_bot(batching, emulator, forked_engine(batching)) as bot:
        _, text = await dream(emulator, "a long first", option("steps", 1000, 4), member=alice)
        first = job_id_of(text)
        await emulator.wait_title(first, "Painting")
        long = option("steps", 300, 4)
        bob_job = job_id_of((await dream(emulator, "bob's lighthouse", long, member=bob))[1])
        carol_job = job_id_of((await dream(emulator, "carol's canyon", long, member=carol))[1])
        # Another size: it cannot join, and the job behind it must not jump it to fill the batch.
        dave_job = job_id_of((await dream(emulator, "dave's forest", option("size", "48x48"), member=dave))[1])
        # Alice's second could join Bob's and Carol's batch (steps are not part of the batch key), but not in her turn.
        alice_job = job_id_of((await dream(emulator, "alice's second", member=alice))[1])
        assert [job.id for job in await bot.scheduler.order()] == [bob_job, carol_job, dave_job, alice_job]

        await bot.scheduler.cancel(await bot.store.job(first))
        await emulator.wait_title(first, "Cancelled")
        await emulator.wait_title(bob_job, "Painting")
        await emulator.wait_title(carol_job, "Painting")
        assert set(bot.scheduler.running) == {bob_job, carol_job}, "one batch, and only the run of jobs in their turn"
        assert [job.id for job in await bot.scheduler.order()] == [dave_job, alice_job]

        await emulator.wait_for(lambda: bob_job in bot.scheduler.progress and carol_job in bot.scheduler.progress)
        engine = bot.scheduler.engine.pid
        await bot.scheduler.cancel(await bot.store.job(bob_job))
        await emulator.wait_title(bob_job, "Cancelled")
        assert carol_job in bot.scheduler.running, "cancelling one job of a batch leaves the others painting"
        done = await emulator.wait_title(carol_job, "Done")
        assert bot.scheduler.engine.pid == engine, "the batch went on in the same engine, neither killed nor retried"
        assert (await bot.store.job(carol_job)).attempts == 1
        (png,) = [Image.open(io.BytesIO(data)) for name, data in emulator.files[int(done["id"])].items() if name.endswith(".png")]
        assert png.size == (32, 32) and png.info["parameters"].startswith("carol's canyon\nSteps: 300")
        assert (await bot.store.job(carol_job)).state == "done"
        await emulator.wait_title(dave_job, "Done")
        await emulator.wait_title(alice_job, "Done")


def test_the_batch_setting_is_auto_or_a_number_from_1_to_8(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text("[engine]\nbatch = 4\n")
    assert load_config(str(path)).engine.batch == 4
    path.write_text('[engine]\nbatch = "auto"\n')
    assert load_config(str(path)).engine.batch == "auto"
    for bad in ("0", "9", '"many"', "2.5", "true"):
        path.write_text(f"[engine]\nbatch = {bad}\n")
        with pytest.raises(ConfigError, match=r'\[engine\] batch must be "auto" or a number from 1 to 8|must be of type'):
            load_config(str(path))
