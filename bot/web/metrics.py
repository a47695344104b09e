"""What an operator watches, in Prometheus's text format (``GET /metrics`` when ``[web] metrics``): jobs by kind and
outcome, how long they waited and ran, each executor's pace, refusals, engine restarts, Discord's errors and rate
limits, and, read at each scrape, the queue of each server, the workers and their memory, and the database's size.

Each bot keeps its own registry (not prometheus-client's global one), so two bots in one process count apart.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from bot.queue.jobs import Job, JobState

WAIT_BUCKETS = (1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200)
RUN_BUCKETS = (1, 5, 15, 30, 60, 120, 300, 600, 1200, 3600)
RATE_LIMITED = "We are being rate limited"  # how discord.py's HTTP client says it met a 429


class Metrics:
    def __init__(self) -> None:
        self.registry = registry = CollectorRegistry()
        self.jobs = Counter("dreambot_jobs", "Jobs that ended, by kind and outcome", ["kind", "outcome"], registry=registry)
        self.refused = Counter("dreambot_refused", "Requests refused before they were queued", registry=registry)
        self.wait = Histogram("dreambot_wait_seconds", "Seconds a job waited before it started", buckets=WAIT_BUCKETS,
                              registry=registry)  # fmt: skip
        self.run = Histogram("dreambot_run_seconds", "Seconds a job ran, from its start to its end", ["kind"],
                             buckets=RUN_BUCKETS, registry=registry)  # fmt: skip
        self.pace = Gauge("dreambot_steps_per_second", "Steps a second of the latest finished job, by executor",
                          ["executor"], registry=registry)  # fmt: skip
        self.engine_restarts = Gauge("dreambot_engine_restarts", "Engine processes started after the first",
                                     registry=registry)  # fmt: skip
        self.discord_errors = Counter("dreambot_discord_api_errors", "Discord REST calls that failed, by status", ["status"],
                                      registry=registry)  # fmt: skip
        self.rate_limits = Counter("dreambot_discord_rate_limits", "Discord REST calls answered 429", registry=registry)
        self.queued = Gauge("dreambot_queue_length", "Waiting jobs, by server", ["guild"], registry=registry)
        self.workers = Gauge("dreambot_workers", "Remote workers online", registry=registry)
        self.worker_memory = Gauge("dreambot_worker_memory_gib", "Each online worker's memory, as it announced it",
                                   ["worker"], registry=registry)  # fmt: skip
        self.database = Gauge("dreambot_database_bytes", "The SQLite database's size on disk", registry=registry)

    def ended(self, job: Job, executor: str = "local") -> None:
        """A job reached an end: its outcome, how long it waited and ran, and (done) its executor's pace."""
        self.jobs.labels(job.request.kind.name, job.state.value).inc()
        if job.started is None:
            return
        self.wait.observe(max(0.0, job.started - job.created))
        if job.finished is not None:
            ran = max(0.0, job.finished - job.started)
            self.run.labels(job.request.kind.name).observe(ran)
            if job.state is JobState.DONE and ran > 0:
                self.pace.labels(executor or "local").set(job.request.total_steps / ran)

    def scraped(self, queued: Mapping[int, int], workers: Mapping[str, float], database_bytes: int, restarts: int) -> bytes:
        """The text a scrape reads, with what is read at the scrape set first."""
        self.queued.clear()
        for guild, count in queued.items():
            self.queued.labels(str(guild)).set(count)
        self.workers.set(len(workers))
        self.worker_memory.clear()
        for worker, memory in workers.items():
            self.worker_memory.labels(worker).set(memory)
        self.database.set(database_bytes)
        self.engine_restarts.set(restarts)
        return generate_latest(self.registry)

    def rate_limit_filter(self) -> Callable[[logging.LogRecord], bool]:
        """A filter for discord.py's HTTP logger that counts its 429s and lets every record through."""

        def count(record: logging.LogRecord) -> bool:
            if isinstance(record.msg, str) and record.msg.startswith(RATE_LIMITED):
                self.rate_limits.inc()
            return True

        return count
