"""What the bot and remote workers say to each other over NATS JetStream: subjects, streams and the
worker's announcement. Plain data, so both sides agree without importing each other.

- ``dreambot.jobs.<model>.<job>``: a job for any worker holding ``model`` (work-queue stream ``JOBS``;
  one shared durable consumer per model, so a job a dead worker held goes to whichever worker pulls
  next; the job's id in the subject lets a restarted bot see that a job is still handed out);
- ``dreambot.events.<worker>.<job>``: the job's started/finished/failed/cancelled events (stream ``EVENTS``,
  read by the bot's durable consumer, so none is lost while the bot restarts);
- ``dreambot.progress.<worker>.<job>``: progress and previews (plain NATS: a lost preview is replaced by the next);
- ``dreambot.cancel.<job>``: a cancel for the worker running the job;
- ``dreambot.workers.<worker>``: each worker's announcement, every ``HEARTBEAT`` seconds;
- object store ``dreambot-inputs``: the pictures a job starts from or steers towards (``input_key``), which live
  on the bot's disk: the bot puts them there and removes them when the job ends, the worker only reads them;
- object store ``dreambot-out-<worker>`` (``results_bucket``): a finished job's event (PNG and animation) under
  the job's id, too big for a message.

Everything a worker says carries its own id in the subject or the bucket, where the server's permissions
(``bot/executors/nats/access.py``) let only that worker's credential publish: the bot takes a job's events
only from the worker that holds it.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import asdict, dataclass

from contract.protocol import RenderRequest

JOBS_STREAM = "DREAMBOT_JOBS"
EVENTS_STREAM = "DREAMBOT_EVENTS"
INPUTS_BUCKET = "dreambot-inputs"
BOT_CONSUMER = "dreambot-bot"
STORED = "stored"  # an event kind on the wire only: the job's Finished event waits in the object store
HEARTBEAT = 2.0  # seconds between a worker's announcements
OFFLINE_AFTER = 3 * HEARTBEAT  # a worker not heard from for this long is taken as gone
CLAIM_TIMEOUT = 60.0  # a job whose worker stops renewing its claim this long goes to another worker

_TOKEN = re.compile(r"[^A-Za-z0-9_-]")


def token(name: str) -> str:
    """``name`` as one NATS subject token and consumer name (model names are already safe; this keeps them so)."""
    return _TOKEN.sub("_", name)


def subject(kind: str, name: str) -> str:
    """``dreambot.<kind>.<name>``; ``kind`` is jobs (``name``: a model), events, progress, cancel (a job) or workers."""
    return f"dreambot.{kind}.{token(name)}"


def job_subject(model: str, job_id: str) -> str:
    return f"{subject('jobs', model)}.{token(job_id)}"


def worker_subject(kind: str, worker_id: str, job_id: str) -> str:
    """``dreambot.<kind>.<worker>.<job>``: what one worker says about one job (events or progress)."""
    return f"{subject(kind, worker_id)}.{token(job_id)}"


def from_worker(kind: str, subject_name: str) -> tuple[str, str] | None:
    """The (worker token, job token) of a ``worker_subject`` of ``kind``; None for any other subject."""
    parts = subject_name.split(".")
    if len(parts) != 4 or parts[:2] != ["dreambot", kind]:
        return None
    return parts[2], parts[3]


def results_bucket(worker_id: str) -> str:
    """The object store only ``worker_id`` may write: its finished pictures, under each job's id."""
    return f"dreambot-out-{token(worker_id)}"


def input_key(job_id: str, number: int) -> str:
    """Where picture ``number`` of a job's inputs waits in the object store."""
    return f"{token(job_id)}.input.{number}"


def inputs(request: RenderRequest) -> list[str]:
    """The files a request names on the bot's disk: its init image, a morph's other end, then its image prompts."""
    ends = [path for path in (request.init_image, request.morph_to) if path]
    return ends + list(request.image_prompts)


def with_inputs(request: RenderRequest, paths: list[str]) -> RenderRequest:
    """``request`` naming ``paths`` (in the order of ``inputs``) instead of its own files."""
    rest = list(paths)
    init = rest.pop(0) if request.init_image else None
    morph_to = rest.pop(0) if request.morph_to else None
    return dataclasses.replace(request, init_image=init, morph_to=morph_to, image_prompts=tuple(rest))


def model_consumer(model: str) -> str:
    return f"model-{token(model)}"


MAX_MEMORY_GIB = 1 << 20  # far above any machine: a larger figure is a lie


@dataclass(frozen=True)
class WorkerInfo:
    """What a worker announces: who it is, what it can paint, and what it is doing."""

    worker_id: str
    device: str
    models: tuple[str, ...]
    max_side: int
    job_id: str | None = None  # the job it runs now (None: free)
    memory_gib: float = 0.0  # its device's memory (0: not said, an older worker or an engine still starting)

    def can_paint(self, model: str, width: int, height: int, memory_gib: float = 0.0) -> bool:
        """Whether it holds ``model``, paints this size, and has ``memory_gib`` (where it said how much it has)."""
        fits = not self.memory_gib or memory_gib <= self.memory_gib
        return model in self.models and max(width, height) <= self.max_side and fits

    def to_dict(self) -> dict:
        return {**asdict(self), "models": list(self.models)}

    @classmethod
    def from_dict(cls, data: dict) -> WorkerInfo:
        return cls(
            str(data["worker_id"]),
            str(data["device"]),
            tuple(map(str, data["models"])),
            int(data["max_side"]),
            data.get("job_id"),
            _memory(data.get("memory_gib", 0.0)),
        )


def _memory(value: object) -> float:
    """A worker's memory as it announced it: GiB from 0 to ``MAX_MEMORY_GIB``, else ``ValueError``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= MAX_MEMORY_GIB:
        raise ValueError(f"memory_gib {value!r} is not a number of GiB from 0 to {MAX_MEMORY_GIB}")
    return float(value)
