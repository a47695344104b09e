"""Everything that must survive a restart, in SQLite: jobs, which message shows which job, and
each server's settings. One connection, used only from the event loop (aiosqlite runs the queries
on its own thread, so the loop never blocks)."""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import sqlite3
import time
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path
from typing import Any

import aiosqlite

from bot.admission.presets import Preset
from bot.moderation.entries import AuditEntry
from bot.queue.jobs import Job, JobState
from bot.usage.charges import Charge
from contract.protocol import RenderRequest

log = logging.getLogger(__name__)

SECRET_BYTES = 32  # the gallery links' HMAC key
BUSY_SECONDS = 10.0  # how long a query waits for a lock held by another connection before it fails
WRITE_TRIES = 6  # a write that still finds the database locked is tried again this often, waiting longer each time
Statement = tuple[str, tuple]
# Each step brings the schema one version up, in one transaction with its version number: a crash
# in the middle of a step leaves the database as it was before the step.
MIGRATIONS = (
    """
    CREATE TABLE jobs (
        id TEXT PRIMARY KEY,
        guild_id INTEGER NOT NULL,
        channel_id INTEGER NOT NULL,
        user_id INTEGER NOT NULL,
        user_name TEXT NOT NULL,
        request TEXT NOT NULL,
        state TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        created REAL NOT NULL,
        started REAL,
        finished REAL,
        message_id INTEGER,
        error TEXT,
        seconds REAL,
        parent TEXT
    );
    CREATE INDEX jobs_by_state ON jobs (state, created);
    CREATE INDEX jobs_by_user ON jobs (guild_id, user_id, created);
    CREATE TABLE messages (
        message_id INTEGER PRIMARY KEY,
        job_id TEXT NOT NULL REFERENCES jobs (id)
    );
    CREATE TABLE settings (
        guild_id INTEGER NOT NULL,
        key TEXT NOT NULL,
        value TEXT NOT NULL,
        PRIMARY KEY (guild_id, key)
    );
    """,
    # 2: which outcome a job's message shows, so a crash between the database and Discord is mended at start-up
    """
    ALTER TABLE jobs ADD COLUMN shown TEXT;
    UPDATE jobs SET shown = state WHERE state IN ('done', 'failed', 'cancelled');
    """,
    # 3: settings of one channel, over the server's
    """
    CREATE TABLE channel_settings (
        guild_id INTEGER NOT NULL,
        channel_id INTEGER NOT NULL,
        key TEXT NOT NULL,
        value TEXT NOT NULL,
        PRIMARY KEY (channel_id, key)
    );
    CREATE INDEX channel_settings_by_guild ON channel_settings (guild_id);
    """,
    # 4: why the picture check flagged a job's pictures (NULL: it did not), kept so nobody can un-flag it
    """
    ALTER TABLE jobs ADD COLUMN flagged TEXT;
    """,
    # 5: the moderators' audit log, and members blocked from the bot
    """
    CREATE TABLE audit (
        guild_id INTEGER NOT NULL,
        at REAL NOT NULL,
        kind TEXT NOT NULL,
        user_id INTEGER NOT NULL,
        channel_id INTEGER,
        job_id TEXT,
        text TEXT NOT NULL
    );
    CREATE INDEX audit_by_member ON audit (guild_id, user_id, at);
    CREATE TABLE blocks (
        guild_id INTEGER NOT NULL,
        user_id INTEGER NOT NULL,
        until REAL,
        reason TEXT NOT NULL,
        by INTEGER NOT NULL,
        PRIMARY KEY (guild_id, user_id)
    );
    """,
    # 6: the usage ledger: every job's engine seconds, charged to its member and server, beside the cost model's
    """
    CREATE TABLE usage (
        job_id TEXT PRIMARY KEY,
        guild_id INTEGER NOT NULL,
        user_id INTEGER NOT NULL,
        at REAL NOT NULL,
        seconds REAL NOT NULL,
        predicted REAL NOT NULL,
        predicted_gib REAL NOT NULL DEFAULT 0,
        peak_gib REAL NOT NULL DEFAULT 0,
        model TEXT NOT NULL DEFAULT '',
        worker TEXT NOT NULL DEFAULT ''
    );
    CREATE INDEX usage_by_member ON usage (guild_id, user_id, at);
    CREATE INDEX usage_by_time ON usage (at);
    """,
    # 7: a server's own presets (named prompt styles)
    """
    CREATE TABLE presets (
        guild_id INTEGER NOT NULL,
        name TEXT NOT NULL,
        text TEXT NOT NULL,
        model TEXT,
        options TEXT,
        PRIMARY KEY (guild_id, name)
    );
    """,
    # 8: the gallery: pictures taken down, the links' secret, the channels each link's member could see, each
    # picture's image embedding, and its prompt's words (kept by a trigger as jobs finish)
    """
    ALTER TABLE jobs ADD COLUMN deleted REAL;
    CREATE TABLE secrets (name TEXT PRIMARY KEY, value BLOB NOT NULL);
    CREATE TABLE gallery_views (
        guild_id INTEGER NOT NULL,
        user_id INTEGER NOT NULL,
        channels TEXT NOT NULL,
        at REAL NOT NULL,
        PRIMARY KEY (guild_id, user_id)
    );
    CREATE TABLE embeddings (
        job_id TEXT PRIMARY KEY,
        perceptor TEXT NOT NULL,
        vector BLOB NOT NULL
    );
    CREATE VIRTUAL TABLE prompts USING fts5(job_id UNINDEXED, prompt);
    INSERT INTO prompts (job_id, prompt) SELECT id, json_extract(request, '$.prompt') FROM jobs WHERE state = 'done';
    CREATE TRIGGER prompts_of_done AFTER UPDATE OF state ON jobs WHEN new.state = 'done' AND old.state != 'done'
    BEGIN
        INSERT INTO prompts (job_id, prompt) VALUES (new.id, json_extract(new.request, '$.prompt'));
    END;
    CREATE INDEX jobs_by_guild ON jobs (guild_id, state, finished);
    """,
)
SCHEMA_VERSION = len(MIGRATIONS)
_COLUMNS = (
    "id, guild_id, channel_id, user_id, user_name, request, state, attempts, created, started, finished, "
    "message_id, error, seconds, parent, flagged"
)


_CHARGE = "job_id, guild_id, user_id, at, seconds, predicted, predicted_gib, peak_gib, model, worker"


class StoreError(Exception):
    """The database cannot be opened or was written by a newer dreambot."""


def _job(row: aiosqlite.Row) -> Job:
    values = dict(row)
    values["request"] = RenderRequest.from_dict(json.loads(values["request"]))
    values["state"] = JobState(values["state"])
    return Job(**values)


class Store:
    """The database at ``path``; made at once, opened on the event loop by ``connect`` (or ``open``)."""

    def __init__(self, path: str | Path, busy_seconds: float = BUSY_SECONDS) -> None:
        self.path = path
        self.busy_seconds = busy_seconds
        self._db: aiosqlite.Connection | None = None
        self._secret: bytes | None = None

    @classmethod
    async def open(cls, path: str | Path) -> Store:
        store = cls(path)
        await store.connect()
        return store

    @property
    def db(self) -> aiosqlite.Connection:
        if self._db is None:
            raise StoreError(f"the database {self.path} is not open")
        return self._db

    async def connect(self) -> None:
        path = self.path
        if str(path) != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        try:
            db = await aiosqlite.connect(path, timeout=self.busy_seconds)
        except Exception as error:  # sqlite3.OperationalError and friends
            raise StoreError(f"cannot open the database {path}: {error}") from error
        db.row_factory = aiosqlite.Row
        await db.execute("PRAGMA journal_mode=WAL")
        await db.execute("PRAGMA foreign_keys=ON")
        try:
            await self._migrate(db)
        except BaseException:
            await db.close()
            raise
        self._db = db

    async def _migrate(self, db: aiosqlite.Connection) -> None:
        (version,) = await (await db.execute("PRAGMA user_version")).fetchone()
        if version > SCHEMA_VERSION:
            raise StoreError(f"{self.path} was written by a newer dreambot (schema {version}, this one knows {SCHEMA_VERSION})")
        for number, step in enumerate(MIGRATIONS[version:], version + 1):
            try:
                await db.executescript(f"BEGIN;\n{step}\nPRAGMA user_version = {number};\nCOMMIT;")
            except Exception as error:
                if db.in_transaction:
                    await db.rollback()
                raise StoreError(f"could not bring {self.path} to schema {number}: {error}") from error
            log.info("database %s is at schema %d", self.path, number)

    async def close(self) -> None:
        if self._db is not None:
            await self._db.close()
            self._db = None

    async def _one(self, sql: str, args: Iterable[Any] = ()) -> Job | None:
        row = await (await self.db.execute(f"SELECT {_COLUMNS} FROM jobs {sql}", tuple(args))).fetchone()
        return _job(row) if row else None

    async def _many(self, sql: str, args: Iterable[Any] = ()) -> list[Job]:
        rows = await (await self.db.execute(f"SELECT {_COLUMNS} FROM jobs {sql}", tuple(args))).fetchall()
        return [_job(row) for row in rows]

    # jobs

    async def _write(self, *statements: Statement) -> list[int]:
        """Run ``statements`` in one transaction, and each one's count of rows changed. A lock held longer than
        ``busy_seconds`` by another process (a backup, a second bot) is waited out again and again: a job's
        bookkeeping after its picture is posted must not fail it."""
        delay, attempt = 0.25, 1
        while True:
            try:
                changed = [(await self.db.execute(sql, parameters)).rowcount for sql, parameters in statements]
                await self.db.commit()
                return changed
            except sqlite3.OperationalError as error:
                await self.db.rollback()
                if attempt == WRITE_TRIES or not any(word in str(error) for word in ("locked", "busy")):
                    raise
                log.warning("the database is busy (%s); writing again in %.2fs", error, delay)
                await asyncio.sleep(delay)
                delay, attempt = delay * 2, attempt + 1

    async def add_job(self, job: Job) -> Job:
        job = job if job.created else replace(job, created=time.time())
        await self._write((
            f"INSERT INTO jobs ({_COLUMNS}) VALUES ({', '.join('?' * 16)})",
            (
                job.id, job.guild_id, job.channel_id, job.user_id, job.user_name, json.dumps(job.request.to_dict()),
                job.state.value, job.attempts, job.created, job.started, job.finished, job.message_id, job.error,
                job.seconds, job.parent, job.flagged,
            ),
        ))  # fmt: skip
        return job

    async def jobs(self) -> list[Job]:
        """Every job, oldest first."""
        return await self._many("ORDER BY created, rowid")

    async def job(self, job_id: str) -> Job | None:
        return await self._one("WHERE id = ?", (job_id,))

    async def queued(self) -> list[Job]:
        return await self._many("WHERE state = 'queued' ORDER BY created, rowid")

    async def running(self) -> list[Job]:
        return await self._many("WHERE state = 'running' ORDER BY started")

    async def ended_ids(self) -> set[str]:
        """The jobs that are over (done, failed or cancelled): the only ones whose files may go."""
        rows = await (await self.db.execute("SELECT id FROM jobs WHERE state IN ('done', 'failed', 'cancelled')")).fetchall()
        return {row[0] for row in rows}

    async def count_queued(self, guild_id: int) -> int:
        query = "SELECT COUNT(*) FROM jobs WHERE guild_id = ? AND state = 'queued'"
        return (await (await self.db.execute(query, (guild_id,))).fetchone())[0]

    async def active_jobs(self, guild_id: int, user_id: int) -> list[Job]:
        return await self._many(
            "WHERE guild_id = ? AND user_id = ? AND state IN ('queued', 'running') ORDER BY created", (guild_id, user_id)
        )

    async def results(self, guild_id: int, user_id: int, limit: int, offset: int = 0) -> tuple[list[Job], int]:
        """A member's finished pictures in a server, newest first: one page, and how many there are in all."""
        where = "WHERE guild_id = ? AND user_id = ? AND state = 'done'"
        page = await self._many(f"{where} ORDER BY finished DESC LIMIT ? OFFSET ?", (guild_id, user_id, limit, offset))
        total = (await (await self.db.execute(f"SELECT COUNT(*) FROM jobs {where}", (guild_id, user_id))).fetchone())[0]
        return page, total

    async def last_created(self, guild_id: int, user_id: int) -> float | None:
        row = await (
            await self.db.execute("SELECT MAX(created) FROM jobs WHERE guild_id = ? AND user_id = ?", (guild_id, user_id))
        ).fetchone()
        return row[0]

    async def last_started(self) -> dict[int, float]:
        rows = await (
            await self.db.execute("SELECT user_id, MAX(started) FROM jobs WHERE started IS NOT NULL GROUP BY user_id")
        ).fetchall()
        return {user: started for user, started in rows}

    async def claim(self, job_id: str) -> Job | None:
        """Mark a queued job running (one more attempt); ``None`` if it was cancelled meanwhile."""
        (changed,) = await self._write((
            "UPDATE jobs SET state = 'running', attempts = attempts + 1, started = ? WHERE id = ? AND state = 'queued'",
            (time.time(), job_id),
        ))  # fmt: skip
        return await self.job(job_id) if changed else None

    async def finish(self, job_id: str, state: JobState, error: str | None = None, seconds: float | None = None) -> Job:
        await self._write((
            "UPDATE jobs SET state = ?, finished = ?, error = ?, seconds = ? WHERE id = ?",
            (state.value, time.time(), error, seconds, job_id),
        ))  # fmt: skip
        job = await self.job(job_id)
        assert job is not None
        return job

    async def cancel_if_queued(self, job_id: str) -> bool:
        (changed,) = await self._write(
            ("UPDATE jobs SET state = 'cancelled', finished = ? WHERE id = ? AND state = 'queued'", (time.time(), job_id))
        )
        return changed > 0

    async def requeue(self, job_id: str) -> None:
        """Put a running job back in the queue (its engine died; it runs again at once)."""
        await self._write(("UPDATE jobs SET state = 'queued' WHERE id = ? AND state = 'running'", (job_id,)))

    async def requeue_running(self, keep: set[str] = frozenset()) -> list[Job]:
        """After a restart: jobs that were running when the bot stopped go back to the queue (all but ``keep``,
        the ones that still run)."""
        jobs = [job for job in await self.running() if job.id not in keep]
        await self._write(*(("UPDATE jobs SET state = 'queued' WHERE id = ? AND state = 'running'", (j.id,)) for j in jobs))
        return jobs

    async def unshown(self) -> list[Job]:
        """Jobs that ended but whose message may not show it yet (the bot stopped or Discord failed in between)."""
        return await self._many("WHERE state IN ('done', 'failed', 'cancelled') AND shown IS NOT state ORDER BY finished")

    async def mark_shown(self, job_id: str, state: JobState) -> None:
        await self._write(("UPDATE jobs SET shown = ? WHERE id = ?", (state.value, job_id)))

    async def flag(self, job_id: str, reason: str) -> None:
        """Note why the picture check flagged the job; a flag is never taken back (the first reason stays)."""
        await self._write(("UPDATE jobs SET flagged = COALESCE(flagged, ?) WHERE id = ?", (reason, job_id)))

    async def release(self, job_id: str) -> None:
        """A moderator let the job's flagged pictures be shown: the flag goes (the audit log keeps what it was)."""
        await self._write(("UPDATE jobs SET flagged = NULL WHERE id = ?", (job_id,)))

    # the audit log and blocks

    async def add_audit(self, entry: AuditEntry) -> None:
        query = "INSERT INTO audit (guild_id, at, kind, user_id, channel_id, job_id, text) VALUES (?, ?, ?, ?, ?, ?, ?)"
        values = (entry.guild_id, entry.at, entry.kind, entry.user_id, entry.channel_id, entry.job_id, entry.text)
        await self._write((query, values))

    async def audit(self, guild_id: int, user_id: int, limit: int) -> list[AuditEntry]:
        """A member's latest entries in the server's audit log, newest first."""
        query = (
            "SELECT guild_id, at, kind, user_id, channel_id, job_id, text FROM audit WHERE guild_id = ? AND user_id = ? "
            "ORDER BY at DESC, rowid DESC LIMIT ?"
        )
        rows = await (await self.db.execute(query, (guild_id, user_id, limit))).fetchall()
        return [AuditEntry(**dict(row)) for row in rows]

    async def block(self, guild_id: int, user_id: int, until: float | None, reason: str, by: int) -> None:
        query = "INSERT OR REPLACE INTO blocks (guild_id, user_id, until, reason, by) VALUES (?, ?, ?, ?, ?)"
        await self._write((query, (guild_id, user_id, until, reason, by)))

    async def unblock(self, guild_id: int, user_id: int) -> bool:
        """Lift a block; whether there was one."""
        (changed,) = await self._write(("DELETE FROM blocks WHERE guild_id = ? AND user_id = ?", (guild_id, user_id)))
        return changed > 0

    async def blocked(self, guild_id: int, user_id: int, now: float) -> tuple[float | None, str] | None:
        """(until, reason) of the member's block while it holds (until None: for ever), else None."""
        query = "SELECT until, reason FROM blocks WHERE guild_id = ? AND user_id = ? AND (until IS NULL OR until > ?)"
        row = await (await self.db.execute(query, (guild_id, user_id, now))).fetchone()
        return (row["until"], row["reason"]) if row else None

    # the usage ledger

    async def charge(self, charge: Charge) -> None:
        """Charge a job's engine seconds (a job charged again, after a retry, adds to what it was charged)."""
        query = (
            f"INSERT INTO usage ({_CHARGE}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (job_id) DO UPDATE SET "
            "seconds = seconds + excluded.seconds, at = excluded.at, peak_gib = MAX(peak_gib, excluded.peak_gib), "
            "worker = excluded.worker"
        )
        values = tuple(getattr(charge, name) for name in _CHARGE.split(", "))
        await self._write((query, values))

    async def used(self, guild_id: int, since: float, user_id: int | None = None) -> dict[int, float]:
        """Engine seconds charged in the server since ``since``, by member (only ``user_id``'s, if given)."""
        query = "SELECT user_id, SUM(seconds) FROM usage WHERE guild_id = ? AND at >= ?"
        args: tuple = (guild_id, since)
        if user_id is not None:
            query, args = query + " AND user_id = ?", (*args, user_id)
        rows = await (await self.db.execute(query + " GROUP BY user_id", args)).fetchall()
        return {user: seconds for user, seconds in rows}

    async def charges(self, limit: int) -> list[Charge]:
        """The latest charges of every server, newest first."""
        query = f"SELECT {_CHARGE} FROM usage ORDER BY at DESC, rowid DESC LIMIT ?"
        return [Charge(**dict(row)) for row in await (await self.db.execute(query, (limit,))).fetchall()]

    # presets

    async def put_preset(self, guild_id: int, preset: Preset) -> None:
        query = "INSERT OR REPLACE INTO presets (guild_id, name, text, model, options) VALUES (?, ?, ?, ?, ?)"
        await self._write((query, (guild_id, preset.name, preset.text, preset.model, preset.options)))

    async def presets(self, guild_id: int) -> dict[str, Preset]:
        query = "SELECT name, text, model, options FROM presets WHERE guild_id = ? ORDER BY name"
        rows = await (await self.db.execute(query, (guild_id,))).fetchall()
        return {row["name"]: Preset(**dict(row)) for row in rows}

    async def delete_preset(self, guild_id: int, name: str) -> bool:
        (changed,) = await self._write(("DELETE FROM presets WHERE guild_id = ? AND name = ?", (guild_id, name)))
        return changed > 0

    # messages

    async def queued_by_guild(self) -> dict[int, int]:
        """Each server's waiting jobs, counted (``GET /metrics``)."""
        rows = await (
            await self.db.execute("SELECT guild_id, COUNT(*) FROM jobs WHERE state = 'queued' GROUP BY guild_id")
        ).fetchall()
        return {guild: count for guild, count in rows}

    async def select(self, condition: str, args: Iterable[Any] = ()) -> list[Job]:
        """Jobs (as ``j``) where ``condition`` holds: the gallery's queries, written with placeholders."""
        return await self._many(f"j WHERE {condition}", args)

    async def mark_deleted(self, job_id: str) -> None:
        """🗑️: the picture was taken down; the gallery no longer shows it."""
        await self._write(("UPDATE jobs SET deleted = ? WHERE id = ?", (time.time(), job_id)))

    async def web_secret(self) -> bytes:
        """The gallery links' HMAC secret, made at the first call and kept."""
        if self._secret is None:
            made = secrets.token_bytes(SECRET_BYTES)
            await self._write(("INSERT OR IGNORE INTO secrets (name, value) VALUES ('gallery', ?)", (made,)))
            (self._secret,) = await (await self.db.execute("SELECT value FROM secrets WHERE name = 'gallery'")).fetchone()
        return self._secret

    async def put_gallery_view(self, guild_id: int, user_id: int, channels: Iterable[int]) -> None:
        """The channels ``user_id`` (0: everyone) could see when /gallery gave them a link."""
        await self._write((
            "INSERT OR REPLACE INTO gallery_views (guild_id, user_id, channels, at) VALUES (?, ?, ?, ?)",
            (guild_id, user_id, json.dumps(sorted(channels)), time.time()),
        ))  # fmt: skip

    async def put_embedding(self, job_id: str, perceptor: str, vector: bytes) -> None:
        await self._write(("INSERT OR REPLACE INTO embeddings (job_id, perceptor, vector) VALUES (?, ?, ?)",
                           (job_id, perceptor, vector)))  # fmt: skip

    async def link_message(self, message_id: int, job_id: str) -> None:
        """Record that ``message_id`` shows ``job_id`` (its progress, then its result)."""
        await self._write(
            ("INSERT OR REPLACE INTO messages (message_id, job_id) VALUES (?, ?)", (message_id, job_id)),
            ("UPDATE jobs SET message_id = ? WHERE id = ?", (message_id, job_id)),
        )

    async def job_for_message(self, message_id: int) -> Job | None:
        return await self._one("WHERE id = (SELECT job_id FROM messages WHERE message_id = ?)", (message_id,))

    # settings

    async def settings(self, guild_id: int) -> dict[str, Any]:
        rows = await (await self.db.execute("SELECT key, value FROM settings WHERE guild_id = ?", (guild_id,))).fetchall()
        return {key: json.loads(value) for key, value in rows}

    async def put_setting(self, guild_id: int, key: str, value: Any) -> None:
        await self._write(
            ("INSERT OR REPLACE INTO settings (guild_id, key, value) VALUES (?, ?, ?)", (guild_id, key, json.dumps(value)))
        )

    async def delete_setting(self, guild_id: int, key: str) -> None:
        await self._write(("DELETE FROM settings WHERE guild_id = ? AND key = ?", (guild_id, key)))

    async def channel_settings(self, guild_id: int) -> dict[int, dict[str, Any]]:
        """Every channel of the server that has settings of its own, with them."""
        query = "SELECT channel_id, key, value FROM channel_settings WHERE guild_id = ?"
        channels: dict[int, dict[str, Any]] = {}
        for channel_id, key, value in await (await self.db.execute(query, (guild_id,))).fetchall():
            channels.setdefault(channel_id, {})[key] = json.loads(value)
        return channels

    async def put_channel_setting(self, guild_id: int, channel_id: int, key: str, value: Any) -> None:
        query = "INSERT OR REPLACE INTO channel_settings (guild_id, channel_id, key, value) VALUES (?, ?, ?, ?)"
        await self._write((query, (guild_id, channel_id, key, json.dumps(value))))

    async def delete_channel_setting(self, channel_id: int, key: str) -> None:
        await self._write(("DELETE FROM channel_settings WHERE channel_id = ? AND key = ?", (channel_id, key)))
