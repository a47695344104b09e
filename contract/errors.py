"""Errors raised on purpose, by validation and by the engine; each message is meant for the person who asked."""

from __future__ import annotations

import re

_PATH = re.compile(r"(?<![\w:/\\])(?:[A-Za-z]:)?(?:[\\/][^\s\\/'\"(),;:]+){2,}[\\/]?")  # two parts at least: not "/dream"


class EngineError(Exception):
    """Base class: ``str(error)`` is a complete, user-facing sentence."""


class BadRequest(EngineError):
    """The request cannot be rendered as asked (bad prompt, size, steps, image...)."""


class WeightsError(EngineError):
    """A weights file is missing, corrupt, or could not be fetched."""


class DownloadError(WeightsError):
    """Fetching a weights file failed (offline, dead mirror, checksum mismatch)."""


class JobCancelled(EngineError):
    """The job was cancelled between steps; ``step`` is the last step that finished (the event is ``protocol.Cancelled``)."""

    def __init__(self, message: str, step: int = 0) -> None:
        super().__init__(message)
        self.step = step


class OutOfMemory(EngineError):
    """The device ran out of memory; the message suggests a smaller size or fewer cutouts."""


def without_paths(text: str) -> str:
    """``text`` with every absolute file path cut to its last part: what reaches a channel or a PNG
    must not show how the owner's machine is laid out."""
    return _PATH.sub(lambda match: match[0].rstrip("/\\").replace("\\", "/").rsplit("/", 1)[-1], text)
