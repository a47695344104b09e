"""Requests and events shared by the engine and the bot.

Everything crosses the process boundary as plain dicts (``to_dict`` / ``from_dict``).
"""

from __future__ import annotations

import base64
import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from contract.films import scenes, total_steps
from contract.kinds import JobKind, kind_of
from contract.limits import (
    DEFAULT_CUT_POW,
    DEFAULT_CUTN,
    DEFAULT_HEIGHT,
    DEFAULT_MODEL,
    DEFAULT_OPTIMIZER,
    DEFAULT_PERCEPTOR,
    DEFAULT_PREVIEW_EVERY,
    DEFAULT_STEPS,
    DEFAULT_STEPS_PER_FRAME,
    DEFAULT_STORY_FADE,
    DEFAULT_WIDTH,
    DEFAULT_ZOOM,
    MAX_UPSCALE_SIDE,
)
from contract.registry import dreamer_names, upscaler_names

EVENTS_FD_VARIABLE = "DREAMBOT_EVENTS_FD"  # the engine writes its events to this descriptor (default: stdout)
BOT_PID_VARIABLE = "DREAMBOT_BOT_PID"  # the process the engine serves; it stops when that one is gone


@dataclass(frozen=True)
class RenderRequest:
    """Everything that decides the picture; the same request on the same device gives the same pixels."""

    prompt: str
    model: str = DEFAULT_MODEL
    perceptor: str = DEFAULT_PERCEPTOR
    width: int = DEFAULT_WIDTH
    height: int = DEFAULT_HEIGHT
    steps: int = DEFAULT_STEPS
    seed: int = 0
    cutn: int = DEFAULT_CUTN
    cut_pow: float = DEFAULT_CUT_POW
    lr: float | None = None  # None: the family's own learning rate
    optimizer: str = DEFAULT_OPTIMIZER
    init_image: str | None = None
    init_weight: float = 0.0
    init_noise: float = 0.0  # share of the seed's noise mixed into the init image: a variation's strength
    keep: tuple[int, int, int, int] = ()  # x, y, width, height of the init image kept as it is (Pan, Zoom Out)
    image_prompts: tuple[str, ...] = ()
    noise_prompts: tuple[str, ...] = ()
    preview_every: int = DEFAULT_PREVIEW_EVERY
    options: dict[str, int | float] = field(default_factory=dict)  # the family's options, see contract.families
    # films (contract.films): a story's scenes are in ``prompt``, separated by ``||``
    zoom_frames: int = 0  # 0: no zoom; else frames of a zoom journey, ``steps`` for the first
    steps_per_frame: int = DEFAULT_STEPS_PER_FRAME
    zoom: float = DEFAULT_ZOOM  # scale per frame (above 1: closer)
    rotate: float = 0.0  # degrees per frame, counter-clockwise
    shift: tuple[float, float] = (0.0, 0.0)  # pixels per frame, right and down
    story_fade: float = DEFAULT_STORY_FADE  # share of a scene's steps over which its prompt takes over
    captions: bool = False  # a story's film shows each scene's line
    count: int = 1  # candidates painted as one batch, seeds ``seed`` to ``seed + count - 1``
    morph_to: str | None = None  # a morph film from ``init_image``'s picture to this one's (``contract/films.py``)
    describe: bool = False  # not painted: ``init_image`` described in words by ``perceptor`` (``contract/describe.py``)

    @property
    def scenes(self) -> list[str]:
        return scenes(self.prompt)

    @property
    def is_film(self) -> bool:
        """A zoom or a story: posted as a film, and never batched with other jobs."""
        return self.zoom_frames > 0 or len(self.scenes) > 1

    @property
    def total_steps(self) -> int:
        return total_steps(self.steps, self.zoom_frames, self.steps_per_frame, self.morph_to is not None)

    @property
    def candidates(self) -> list[RenderRequest]:
        """Each candidate of a set as the request that paints it alone (a single request: itself)."""
        if self.count == 1:
            return [self]
        return [dataclasses.replace(self, seed=self.seed + index, count=1) for index in range(self.count)]

    @property
    def is_upscale(self) -> bool:
        """A 4x upscale of ``init_image`` by the upscaler ``model``, queued like a painting."""
        return self.model in upscaler_names()

    @property
    def upscalable(self) -> bool:
        """Whether its pictures are small enough to upscale (``MAX_UPSCALE_SIDE``)."""
        return max(self.width, self.height) <= MAX_UPSCALE_SIDE

    @property
    def is_deepdream(self) -> bool:
        """DeepDream on ``init_image`` by the network ``model`` (``contract.deepdream``), queued like a painting."""
        return self.model in dreamer_names()

    @property
    def kind(self) -> JobKind:
        """What it paints (``contract/kinds.py``): an upscale or a dream by its model, else a film, a set or a picture."""
        return kind_of(self)

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["image_prompts"] = list(self.image_prompts)
        data["noise_prompts"] = list(self.noise_prompts)
        data["options"] = dict(self.options)
        data["shift"] = list(self.shift)
        data["keep"] = list(self.keep)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RenderRequest:
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - names
        if unknown:
            raise ValueError(f"unknown request fields: {', '.join(sorted(unknown))}")
        values = dict(data)
        for key in ("image_prompts", "noise_prompts", "shift", "keep"):
            if key in values:
                values[key] = tuple(values[key])
        return cls(**values)

    @property
    def size(self) -> str:
        return f"{self.width}x{self.height}"


def _encode_bytes(value: bytes | None) -> str | None:
    return None if value is None else base64.b64encode(value).decode("ascii")


def _decode_bytes(value: str | None) -> bytes | None:
    return None if value is None else base64.b64decode(value)


@dataclass(frozen=True)
class Event:
    """Base of what the engine streams back; ``kind`` tags the dict form."""

    job_id: str
    kind: ClassVar[str] = "event"
    _bytes_fields: ClassVar[tuple[str, ...]] = ()
    _bytes_lists: ClassVar[tuple[str, ...]] = ()

    def to_dict(self) -> dict[str, Any]:
        data = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        for name in self._bytes_fields:
            data[name] = _encode_bytes(data[name])
        for name in self._bytes_lists:
            data[name] = [_encode_bytes(item) for item in data[name]]
        data["kind"] = self.kind
        return data

    @staticmethod
    def from_dict(data: dict[str, Any]) -> Event:
        values = dict(data)
        kind = values.pop("kind")
        try:
            cls = EVENT_TYPES[kind]
        except KeyError:
            raise ValueError(f"unknown event kind {kind!r}") from None
        for name in cls._bytes_fields:  # a field added later (``svg``) may be missing from an older engine's events
            values[name] = _decode_bytes(values.get(name))
        for name in cls._bytes_lists:
            values[name] = tuple(_decode_bytes(item) for item in values.get(name, ()))
        if "losses" in values:
            values["losses"] = tuple(values["losses"])
        return cls(**values)


@dataclass(frozen=True)
class Ready(Event):
    """The engine process has imported torch and waits for jobs (``job_id`` is empty)."""

    device: str = ""
    memory_gib: float = 0.0  # the device's memory (a CPU's: the machine's); 0: not said (an older engine)
    kind: ClassVar[str] = "ready"


@dataclass(frozen=True)
class Downloading(Event):
    """The engine fetches a default model's weights, outside any job (``job_id`` is empty)."""

    name: str = ""  # the model
    file: str = ""  # the file of it under way
    done: int = 0  # bytes of this file fetched so far
    total: int = 0  # bytes in all, 0 while unknown
    kind: ClassVar[str] = "downloading"

    @property
    def percent(self) -> int | None:
        return min(100, self.done * 100 // self.total) if self.total else None


@dataclass(frozen=True)
class Warmed(Event):
    """The default models are loaded (``error``: why they are not; jobs for them will say so too)."""

    error: str = ""
    kind: ClassVar[str] = "warmed"


@dataclass(frozen=True)
class Fetched(Event):
    """A fetch begun after ``warmed`` (the upscaler's, the dreamer's) ended (``error``: why it failed)."""

    name: str = ""
    error: str = ""
    kind: ClassVar[str] = "fetched"


@dataclass(frozen=True)
class Started(Event):
    total_steps: int = 0
    kind: ClassVar[str] = "started"


@dataclass(frozen=True)
class Progress(Event):
    """One step done; ``preview`` (a JPEG, no metadata) comes every ``preview_every`` steps.

    ``loss`` is the latest loss read back from the device: the step's own on the plain path; on
    the sync-free fast path, that of step 1, of the latest preview step, or of the last step.
    """

    step: int = 0
    total_steps: int = 0
    loss: float = 0.0
    elapsed: float = 0.0
    preview: bytes | None = None
    concepts: dict[str, float] = field(default_factory=dict)  # the preview's scores (``contract/concepts.py``), if asked
    kind: ClassVar[str] = "progress"
    _bytes_fields: ClassVar[tuple[str, ...]] = ("preview",)

    @property
    def eta(self) -> float:
        """Seconds left, extrapolated from the pace so far."""
        if self.step <= 0:
            return 0.0
        return self.elapsed / self.step * (self.total_steps - self.step)


@dataclass(frozen=True)
class Finished(Event):
    """The final PNG (with its ``parameters`` chunk) and, if asked for, the run as an MP4.

    A set (``count`` above 1) finishes with the grid as ``png`` and each candidate's own PNG in
    ``candidates``, in seed order.
    """

    png: bytes = b""
    seconds: float = 0.0
    losses: tuple[float, ...] = field(default_factory=tuple)
    animation: bytes | None = None
    candidates: tuple[bytes, ...] = ()
    svg: bytes | None = None  # a picture drawn as strokes (clipdraw), as an SVG document
    concepts: dict[str, float] = field(default_factory=dict)  # the result's scores (``contract/concepts.py``), if asked
    peak_gib: float = 0.0  # the engine's peak memory while it ran (a GPU's own; a CPU's: the process's so far); 0: unknown
    worker: str = ""  # the remote worker that painted it, as the bot's dispatcher heard it ("": the local engine)
    embedding: list[float] = field(default_factory=list)  # the picture's image embedding by its perceptor (the gallery)
    description: dict[str, Any] = field(default_factory=dict)  # a /describe's (``contract/describe.py``); its png: the picture
    kind: ClassVar[str] = "finished"
    _bytes_fields: ClassVar[tuple[str, ...]] = ("png", "animation", "svg")
    _bytes_lists: ClassVar[tuple[str, ...]] = ("candidates",)


@dataclass(frozen=True)
class Failed(Event):
    """``reason`` is written for the person who asked, ``hint`` says what to change."""

    reason: str = ""
    hint: str = ""
    retryable: bool = False
    kind: ClassVar[str] = "failed"


@dataclass(frozen=True)
class Cancelled(Event):
    step: int = 0
    kind: ClassVar[str] = "cancelled"


TERMINAL = (Finished, Failed, Cancelled)  # the events after which a job has ended

EVENT_TYPES: dict[str, type[Event]] = {
    cls.kind: cls for cls in (Ready, Downloading, Warmed, Fetched, Started, Progress, Finished, Failed, Cancelled)
}


def render_command(job_id: str, request: RenderRequest, animation: bool = True, concepts: Sequence[str] = ()) -> dict[str, Any]:
    """Bot to engine: render ``request``; events come back tagged with ``job_id``, its previews and result scored
    against ``concepts`` (``contract/concepts.py``) when there are any."""
    return {"op": "render", "job_id": job_id, "request": request.to_dict(), "animation": animation, "concepts": list(concepts)}


def batch_key(request: RenderRequest) -> tuple[str, str, int, int] | None:
    """Requests with equal keys can share one batch: one generator network, one perceptor, one size.
    None for what always runs alone: a film, an upscale, a dream, a set of candidates."""
    if not request.kind.batches:
        return None
    return request.model, request.perceptor, request.width, request.height


def batch_command(
    jobs: Sequence[tuple[str, RenderRequest]], animation: bool = True, concepts: Mapping[str, Sequence[str]] | None = None
) -> dict[str, Any]:
    """Bot to engine: render ``jobs`` (one ``batch_key``) as one batch; each job's events come back tagged
    with its id (and scored against its ``concepts``), and a cancel stops that job alone."""
    concepts = concepts or {}
    entries = [
        {"job_id": job_id, "request": request.to_dict(), "concepts": list(concepts.get(job_id, ()))} for job_id, request in jobs
    ]
    return {"op": "render_batch", "jobs": entries, "animation": animation}


def warm_command(model: str, perceptor: str, download: bool, also: Sequence[str] = ()) -> dict[str, Any]:
    """Bot to engine: load these models now, before any job asks for them, fetching missing weights first
    when ``download``; ``downloading`` events report the fetch, and ``warmed`` ends it. Then, beside the first
    jobs, the weights of ``also`` (the upscaler and the dreamer: fetched, not loaded), each ended by ``fetched``."""
    return {"op": "warm", "model": model, "perceptor": perceptor, "download": download, "also": list(also)}


def cancel_command(job_id: str) -> dict[str, Any]:
    """Bot to engine: stop ``job_id`` after its current step (ignored if it is not running)."""
    return {"op": "cancel", "job_id": job_id}
