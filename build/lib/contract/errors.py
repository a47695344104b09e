"""Errors raised on purpose, by validation and by the engine; each message is meant for the person who asked."""

from __future__ import annotations

import re
from collections.abc import Callable

_PATH = re.compile(r"(?<![\w:/\\])(?:[A-Za-z]:)?(?:[\\/][^\s\\/'\"(),;:]+){2,}[\\/]?")  # two parts at least: not "/dream"


class EngineError(Exception):
    """Base class: ``str(error)`` is a complete, user-facing sentence."""


class BadRequest(EngineError):
    """The request cannot be rendered as asked (bad prompt, size, steps, image...)."""


class OptionError(BadRequest):
    """A refusal that names options: ``str()`` names them by their keys (``max_classes``, as ``/dream options`` and
    the PNG take them); ``spelled`` by another spelling, such as the command line's flags (``--max-classes``)."""

    def __init__(self, template: str, *names: str) -> None:
        self.template, self.names = template, names
        super().__init__(template.format(*names))

    def spelled(self, spell: Callable[[str], str]) -> str:
        return self.template.format(*(spell(name) for name in self.names))


def escaped(text: str) -> str:
    """``text`` to put in an ``OptionError``'s template as it is."""
    return text.replace("{", "{{").replace("}", "}}")


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
