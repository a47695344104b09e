"""The operator's figures as jobs end: outcomes by kind, waits and runs only for jobs that started, the pace of
finished ones by executor; and discord.py's 429 warnings counted as they pass."""

from __future__ import annotations

import logging

from bot.queue.jobs import Job, JobState
from bot.web.metrics import Metrics
from contract.protocol import RenderRequest


def value(metrics: Metrics, name: str, **labels: str) -> float | None:
    return metrics.registry.get_sample_value(name, labels)


def test_an_ended_job_counts_its_outcome_wait_run_and_pace():
    metrics = Metrics()
    request = RenderRequest("a castle", steps=30)
    metrics.ended(Job("a", 1, 2, 3, "x", request, JobState.DONE, created=100.0, started=110.0, finished=125.0), "gpu-1")
    metrics.ended(Job("b", 1, 2, 3, "x", request, JobState.CANCELLED, created=100.0))  # cancelled while it waited
    assert value(metrics, "dreambot_jobs_total", kind="picture", outcome="done") == 1
    assert value(metrics, "dreambot_jobs_total", kind="picture", outcome="cancelled") == 1
    assert value(metrics, "dreambot_wait_seconds_sum") == 10 and value(metrics, "dreambot_wait_seconds_count") == 1
    assert value(metrics, "dreambot_run_seconds_sum", kind="picture") == 15
    assert value(metrics, "dreambot_steps_per_second", executor="gpu-1") == 2.0


def test_rate_limits_are_counted_from_discords_warnings_and_pass_on():
    metrics = Metrics()
    logger = logging.getLogger("discord.http.test")
    counting = metrics.rate_limit_filter()
    logger.addFilter(counting)
    passed: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = passed.append  # type: ignore[method-assign]
    logger.addHandler(handler)
    try:
        logger.warning("We are being rate limited. %s %s responded with 429. Retrying in %.2f seconds.", "PATCH", "/x", 1.0)
        logger.warning("something else")
    finally:
        logger.removeFilter(counting)
        logger.removeHandler(handler)
    assert value(metrics, "dreambot_discord_rate_limits_total") == 1
    assert len(passed) == 2, "counting keeps every record for the log"
    scraped = metrics.scraped({7: 3}, {"gpu-1": 80.0}, 4096, 2).decode()
    assert 'dreambot_queue_length{guild="7"} 3.0' in scraped and "dreambot_workers 1.0" in scraped
    assert "dreambot_engine_restarts 2.0" in scraped and "dreambot_database_bytes 4096.0" in scraped


def test_every_figure_the_grafana_dashboard_plots_is_one_the_bot_serves():
    import json
    import re
    from pathlib import Path

    dashboard = json.loads((Path(__file__).parents[3] / "docs" / "grafana" / "dreambot.json").read_text())
    plotted = {name for panel in dashboard["panels"] for target in panel["targets"]
               for name in re.findall(r"dreambot_\w+", target["expr"])}  # fmt: skip
    metrics = Metrics()
    metrics.ended(Job("a", 1, 2, 3, "x", RenderRequest("a"), JobState.DONE, created=1.0, started=2.0, finished=3.0))
    metrics.discord_errors.labels("500").inc()
    served = set(re.findall(r"^(dreambot_\w+)", metrics.scraped({1: 1}, {"w": 1.0}, 1, 0).decode(), re.MULTILINE))
    assert plotted and plotted <= served, plotted - served


async def test_the_queue_is_counted_by_server_and_only_what_waits(tmp_path):
    from bot.queue.store import Store

    store = await Store.open(tmp_path / "d.sqlite3")
    try:
        for job_id, guild in (("a", 1), ("b", 1), ("c", 2), ("d", 2)):
            await store.add_job(Job(job_id, guild, 20, 3, "x", RenderRequest("a castle")))
        await store.claim("d")
        assert await store.queued_by_guild() == {1: 2, 2: 1}
    finally:
        await store.close()
