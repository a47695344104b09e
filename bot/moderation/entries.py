"""One line of a server's audit log, as the database keeps it."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Kind(enum.StrEnum):
    JOB = "job"  # a job was admitted
    REFUSED = "refused"  # a request was refused (banned words, limits, a block)
    FLAGGED = "flagged"  # the picture check flagged a result
    RELEASED = "released"  # a moderator released a withheld picture
    DELETED = "deleted"  # a result was taken down
    SETTING = "setting"  # a setting was changed
    BLOCKED = "blocked"  # a member was blocked or unblocked


@dataclass(frozen=True)
class AuditEntry:
    guild_id: int
    at: float  # when, in seconds since the epoch
    kind: str
    user_id: int  # whom it is about: the member who asked, was refused or blocked, or who changed a setting
    text: str
    channel_id: int | None = None
    job_id: str | None = None
