"""Files a job leaves behind: its init image, final PNG and animation, one folder per job.

Reads and writes run in a worker thread, so the event loop never waits on the disk. ``prune``
keeps the folder within an age and a size: the folders of ended jobs go, oldest first, and nothing
else: a folder the database does not know as an ended job's, a file, or a link stays where it is.
"""

from __future__ import annotations

import asyncio
import json
import logging
import shutil
import time
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from contract.describe import Description

if TYPE_CHECKING:
    from bot.queue.jobs import Job

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Pruned:
    removed: list[str]  # job ids whose folders were removed
    kept_bytes: int
    skipped: list[str] = field(default_factory=list)  # links, which are never followed nor removed


class JobFiles:
    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def folder(self, job_id: str) -> Path:
        return self.root / job_id

    def init_image(self, job_id: str) -> Path:
        return self.folder(job_id) / "init.png"

    def image_prompt(self, job_id: str, number: int) -> Path:
        return self.folder(job_id) / f"image-prompt-{number}.png"

    def morph_end(self, job_id: str) -> Path:
        """The picture a morph ends on (it starts on its ``init_image``)."""
        return self.folder(job_id) / "morph-end.png"

    def result(self, job_id: str) -> Path:
        return self.folder(job_id) / "result.png"

    def candidate(self, job_id: str, number: int) -> Path:
        """Candidate ``number`` (from 1) of a set, as its own PNG; the set's grid is its ``result``."""
        return self.folder(job_id) / f"candidate-{number}.png"

    def picture(self, job: Job, number: int) -> Path:
        """The picture V``number`` and U``number`` act on: a set's candidate, or a single result."""
        return self.candidate(job.id, number) if job.request.count > 1 else self.result(job.id)

    def svg(self, job_id: str) -> Path:
        """A picture drawn as strokes (clipdraw), as vectors."""
        return self.folder(job_id) / "strokes.svg"

    def description(self, job_id: str) -> Path:
        """A /describe's ranked phrases and prompts, as JSON (its buttons read the prompts from here)."""
        return self.folder(job_id) / "description.json"

    async def read_description(self, job_id: str) -> Description | None:
        """The description of a /describe job, or None if it is not there (cleaned up) or not one."""
        data = await self.read(self.description(job_id))
        try:
            return Description.from_dict(json.loads(data)) if data is not None else None
        except ValueError:
            log.warning("job %s: its description file is not one; ignored", job_id)
            return None

    def animation(self, job_id: str) -> Path:
        """The run as an MP4 (films and stills alike)."""
        return self.folder(job_id) / "animation.mp4"

    async def write(self, path: Path, data: bytes) -> Path:
        def write() -> Path:
            path.parent.mkdir(parents=True, exist_ok=True)
            partial = path.with_suffix(path.suffix + ".part")
            partial.write_bytes(data)
            partial.replace(path)
            return path

        return await asyncio.to_thread(write)

    async def read(self, path: Path) -> bytes | None:
        """The file's bytes, or ``None`` if it is not there (never made, or cleaned up)."""

        def read() -> bytes | None:
            try:
                return path.read_bytes()
            except FileNotFoundError:
                return None

        return await asyncio.to_thread(read)

    async def prune(self, keep_days: float, max_bytes: int, ended: Collection[str]) -> Pruned:
        """Remove the folders of the jobs in ``ended`` (the database's ended jobs) that are older than ``keep_days``
        (0: no age limit), then the oldest of the rest until the folder holds at most ``max_bytes`` (0: no size
        limit). Every other entry is left alone, and a link is reported as skipped."""
        return await asyncio.to_thread(self._prune, keep_days, max_bytes, frozenset(ended))

    def _prune(self, keep_days: float, max_bytes: int, ended: frozenset[str]) -> Pruned:
        if not self.root.is_dir():
            return Pruned([], 0)
        folders = []  # (last change, bytes, job id) of every ended job's folder
        kept, skipped = 0, []
        for folder in self.root.iterdir():
            if folder.is_symlink():
                skipped.append(folder.name)
                continue
            if not folder.is_dir():
                continue
            files = [f for f in folder.iterdir() if f.is_file() and not f.is_symlink()]
            size = sum(f.stat().st_size for f in files)
            kept += size
            if folder.name in ended:
                changed = max([f.stat().st_mtime for f in files], default=folder.stat().st_mtime)
                folders.append((changed, size, folder.name))
        folders.sort()
        cutoff = time.time() - keep_days * 86400 if keep_days else -1.0
        removed = []
        for changed, size, job_id in folders:
            if changed >= cutoff and (not max_bytes or kept <= max_bytes):
                continue
            shutil.rmtree(self.folder(job_id), ignore_errors=True)
            removed.append(job_id)
            kept -= size
        if removed:
            log.info("removed the files of %d old job(s); %.1f MiB kept", len(removed), kept / 2**20)
        if skipped:
            log.warning("left %d link(s) in %s alone: %s", len(skipped), self.root, ", ".join(sorted(skipped)))
        return Pruned(removed, kept, skipped)

    def free_space(self) -> tuple[int, int]:
        """(free, total) bytes on the disk that holds the job files."""
        self.root.mkdir(parents=True, exist_ok=True)
        usage = shutil.disk_usage(self.root)
        return usage.free, usage.total
