"""A job: one render request from one member, with its state in the queue."""

from __future__ import annotations

import enum
import secrets
from dataclasses import dataclass

from contract.protocol import RenderRequest


class JobState(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"


ACTIVE = (JobState.QUEUED, JobState.RUNNING)


def new_job_id() -> str:
    return secrets.token_hex(8)  # 64 bits: no collision in any bot's lifetime


@dataclass(frozen=True)
class Job:
    id: str
    guild_id: int
    channel_id: int
    user_id: int
    user_name: str
    request: RenderRequest
    state: JobState = JobState.QUEUED
    attempts: int = 0
    created: float = 0.0
    started: float | None = None
    finished: float | None = None
    message_id: int | None = None
    error: str | None = None
    seconds: float | None = None
    parent: str | None = None
    flagged: str | None = None  # why the picture check flagged its pictures (or the picture it was made from)

    @property
    def active(self) -> bool:
        return self.state in ACTIVE

    @property
    def jump_url(self) -> str | None:
        """A link to the job's message, once it has one."""
        if self.message_id is None:
            return None
        return f"https://discord.com/channels/{self.guild_id}/{self.channel_id}/{self.message_id}"
