"""``dreambot usage model``: predicted against measured engine seconds of the latest jobs, from the bot's database."""

from __future__ import annotations

import asyncio
import json
import time

import pytest

from bot.queue.jobs import Job, JobState
from bot.queue.store import Store
from bot.usage.charges import Charge
from contract.costs import predict
from contract.protocol import RenderRequest
from tests.support.cli import dreambot_here

PIXELS = RenderRequest("a castle", "pixels", "tiny-clip", 64, 64, steps=40, cutn=8)
VQGAN = RenderRequest("a castle", "tiny-vqgan", "tiny-clip", 64, 64, steps=40, cutn=8)


MEASURED = {"p1": 2.0, "p2": 2.0, "p3": 2.0, "v1": 12.0}
REQUESTS = {"p1": PIXELS, "p2": PIXELS, "p3": PIXELS, "v1": VQGAN}


async def charged(folder) -> None:
    """A bot's database in ``folder`` with four jobs done and charged, oldest first."""
    store = await Store.open(folder / "dreambot.sqlite3")
    now = time.time()
    for n, (job_id, request) in enumerate(REQUESTS.items()):
        await store.add_job(Job(job_id, 1, 2, 7, "m", request))
        await store.finish(job_id, JobState.DONE)
        await store.charge(Charge(job_id, 1, 7, now + n, MEASURED[job_id], predict(request).seconds))
    await store.close()


def test_usage_model_prints_each_job_against_its_prediction_at_the_executors_pace(tmp_path):
    asyncio.run(charged(tmp_path))
    measured = MEASURED
    pace = measured["p1"] / predict(PIXELS).seconds  # the median of the four ratios: three pixels jobs
    result = dreambot_here("usage", "model", "--json", weights_dir=tmp_path, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    jobs, models = lines[:4], lines[4:]
    assert [row["job"] for row in jobs] == ["v1", "p3", "p2", "p1"], "newest first"
    assert jobs[0]["predicted_s"] == pytest.approx(predict(VQGAN).seconds * pace, abs=0.01)
    assert jobs[0]["measured_s"] == 12.0 and jobs[1]["ratio"] == pytest.approx(1.0, abs=1e-3)
    ratio = 12.0 / (predict(VQGAN).seconds * pace)
    assert {row["model"]: row["median_ratio"] for row in models} == pytest.approx({"pixels": 1.0, "tiny-vqgan": ratio}, abs=1e-3)
    text = dreambot_here("usage", "model", "--last", "2", weights_dir=tmp_path, cwd=tmp_path).stdout
    assert text.startswith(f"pace of this bot's executor: {pace:.3g}x the cost table's machine (median of the last 4 jobs)")
    assert "v1" in text and "p3" in text and "p2" not in text


def test_usage_model_refuses_a_bad_count_and_says_when_nothing_was_charged(tmp_path):
    assert dreambot_here("usage", "model", "--last", "0", weights_dir=tmp_path, cwd=tmp_path).returncode == 2
    empty = dreambot_here("usage", "model", weights_dir=tmp_path, cwd=tmp_path)
    assert empty.returncode == 0 and empty.stdout.rstrip().endswith("no job has been charged yet")
