"""Files a job leaves behind: its init image, final PNG and animation, one folder per job.

Reads and writes run in a worker thread, so the event loop never waits on the disk.
"""

from __future__ import annotations

import asyncio
from pathlib import Path


class JobFiles:
    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def folder(self, job_id: str) -> Path:
        return self.root / job_id

    def init_image(self, job_id: str) -> Path:
        return self.folder(job_id) / "init.png"

    def result(self, job_id: str) -> Path:
        return self.folder(job_id) / "result.png"

    def animation(self, job_id: str) -> Path:
        return self.folder(job_id) / "animation.gif"

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
