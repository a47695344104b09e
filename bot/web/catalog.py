"""What the gallery shows of a server, read from the database: its finished pictures a pass may see (not deleted,
not withheld, in channels its member could see when the link was given), filtered by member, model and channel,
found by words in their prompts (SQLite FTS5) or ranked by likeness to one of them (the cosine similarity of their
image embeddings, from the perceptor that painted each, exact in numpy)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

import numpy as np

from bot.queue.jobs import Job
from bot.queue.store import Store

PAGE = 48  # pictures a page of the grid shows
CHUNK = 500  # embeddings read in one query
WORD = re.compile(r"\w+", re.UNICODE)


@dataclass(frozen=True)
class Filters:
    member: int | None = None
    model: str | None = None
    channel: int | None = None
    words: str = ""
    like: str | None = None  # a job whose likeness ranks the others
    page: int = 1


def match_query(words: str) -> str | None:
    """The words a member typed as an FTS5 query that finds prompts holding all of them (each quoted: no operator
    a member types reaches FTS5's syntax); None when there is no word to look for."""
    found = WORD.findall(words.lower())[:16]
    return " ".join(f'"{word}"' for word in found) or None


@dataclass
class Kept:
    """One server's embeddings of one perceptor, as rows of a matrix."""

    index: dict[str, int] = field(default_factory=dict)  # job id -> its row
    matrix: np.ndarray | None = None

    def add(self, vectors: list[tuple[str, np.ndarray]], size: int) -> None:
        """Rows for ``vectors`` of ``size`` numbers; another size (a worker's malformed one) is left out."""
        fitting = [(job_id, vector) for job_id, vector in vectors if vector.shape == (size,)]
        if not fitting:
            return
        new = np.stack([vector for _, vector in fitting])
        self.matrix = new if self.matrix is None else np.vstack([self.matrix, new])
        for job_id, _ in fitting:
            self.index[job_id] = len(self.index)


class Catalog:
    def __init__(self, store: Store) -> None:
        self.store = store
        self._kept: dict[tuple[int, str, int], Kept] = {}  # (server, perceptor, size) -> its pictures' embeddings

    async def visible(self, guild_id: int, user_id: int) -> set[int]:
        """The channels a pass's member could see when /gallery gave the link (none: no link was given)."""
        row = await (await self.store.db.execute(
            "SELECT channels FROM gallery_views WHERE guild_id = ? AND user_id = ?", (guild_id, user_id)
        )).fetchone()  # fmt: skip
        return set(json.loads(row[0])) if row else set()

    def _where(self, guild_id: int, channels: set[int], filters: Filters) -> tuple[str, list]:
        marks = ",".join("?" * len(channels)) or "NULL"
        sql = [
            "j.guild_id = ?", "j.state = 'done'", "j.deleted IS NULL", "j.flagged IS NULL", f"j.channel_id IN ({marks})",
            "json_extract(j.request, '$.describe') IS NOT 1",
        ]  # fmt: skip
        args: list = [guild_id, *sorted(channels)]
        if filters.member is not None:
            sql.append("j.user_id = ?")
            args.append(filters.member)
        if filters.model:
            sql.append("json_extract(j.request, '$.model') = ?")
            args.append(filters.model)
        if filters.channel is not None:
            sql.append("j.channel_id = ?")
            args.append(filters.channel)
        if query := match_query(filters.words):
            sql.append("j.id IN (SELECT job_id FROM prompts WHERE prompts MATCH ?)")
            args.append(query)
        return " AND ".join(sql), args

    async def pictures(self, guild_id: int, channels: set[int], filters: Filters) -> tuple[list[Job], int]:
        """A page of the server's pictures, newest first (or likest first), and how many match in all."""
        where, args = self._where(guild_id, channels, filters)
        if filters.like:
            return await self._likest(guild_id, where, args, filters)
        (total,) = await (await self.store.db.execute(f"SELECT COUNT(*) FROM jobs j WHERE {where}", args)).fetchone()
        offset = (filters.page - 1) * PAGE
        jobs = await self.store.select(f"{where} ORDER BY j.finished DESC LIMIT ? OFFSET ?", (*args, PAGE, offset))
        return jobs, total

    async def _likest(self, guild_id: int, where: str, args: list, filters: Filters) -> tuple[list[Job], int]:
        """The pictures most like ``filters.like`` (itself left out), which must be one this pass may see."""
        target = await (await self.store.db.execute(
            "SELECT e.perceptor, e.vector FROM embeddings e JOIN jobs j ON j.id = e.job_id WHERE e.job_id = ? AND "
            + where, (filters.like, *args),
        )).fetchone()  # fmt: skip
        if target is None:
            return [], 0
        perceptor, wanted = target[0], np.frombuffer(target[1], dtype=np.float32)
        rows = await (await self.store.db.execute(
            f"SELECT e.job_id FROM embeddings e JOIN jobs j ON j.id = e.job_id WHERE {where} AND e.perceptor = ? "
            "AND j.id != ?",
            (*args, perceptor, filters.like),
        )).fetchall()  # fmt: skip
        ids, vectors = await self._vectors(guild_id, perceptor, len(wanted), [row[0] for row in rows])
        if not ids:
            return [], 0
        offset = (filters.page - 1) * PAGE
        order = rank(wanted, vectors, offset + PAGE)
        chosen = [ids[i] for i in order[offset : offset + PAGE]]
        jobs = {job.id: job for job in await self.store.select(f"j.id IN ({','.join('?' * len(chosen))})", chosen)}
        return [jobs[i] for i in chosen if i in jobs], len(ids)

    async def _vectors(self, guild_id: int, perceptor: str, size: int, ids: list[str]) -> tuple[list[str], np.ndarray]:
        """The embeddings of ``ids`` (those that have one of ``size`` numbers), in their order: read from the database
        once and kept per server and perceptor, so a page reads only the pictures finished since the last."""
        kept = self._kept.setdefault((guild_id, perceptor, size), Kept())
        missing = [job_id for job_id in ids if job_id not in kept.index]
        for start in range(0, len(missing), CHUNK):
            chunk = missing[start : start + CHUNK]
            rows = await (await self.store.db.execute(
                f"SELECT job_id, vector FROM embeddings WHERE job_id IN ({','.join('?' * len(chunk))})", chunk
            )).fetchall()  # fmt: skip
            kept.add([(job_id, np.frombuffer(vector, dtype=np.float32)) for job_id, vector in rows], size)
        found = [job_id for job_id in ids if job_id in kept.index]
        return found, kept.matrix[[kept.index[job_id] for job_id in found]] if found else np.zeros((0, size), np.float32)

    async def shown(self, guild_id: int, channels: set[int], job_id: str) -> Job | None:
        """The picture ``job_id`` when the gallery shows it to this pass (else None: to this pass it does not exist)."""
        where, args = self._where(guild_id, channels, Filters())
        found = await self.store.select(f"{where} AND j.id = ?", (*args, job_id))
        return found[0] if found else None

    async def family(self, job: Job) -> tuple[Job | None, list[Job]]:
        """The picture a job was made from, and those made from it (variations, upscales, moves, films)."""
        parent = await self.store.job(job.parent) if job.parent else None
        children = await self.store.select("j.parent = ? ORDER BY j.created", (job.id,))
        return parent, children


def rank(target: np.ndarray, vectors: np.ndarray, top: int | None = None) -> np.ndarray:
    """Indices of ``vectors`` from the most to the least like ``target`` (cosine similarity); only the ``top`` likest
    when asked (a page's worth: a partial sort, which a large gallery needs)."""
    norms = np.sqrt(np.einsum("ij,ij->i", vectors, vectors))  # the target's own length scales every score alike
    distance = -(vectors @ target) / np.maximum(norms, 1e-12)
    if top is not None and top < len(distance):
        best = np.argpartition(distance, top)[:top]
        return best[np.lexsort((best, distance[best]))]
    return np.argsort(distance, kind="stable")
