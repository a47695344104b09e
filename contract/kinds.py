"""Job kinds, one declaration each: what a request paints (a picture, a set of candidates, a film, a dream on a
picture, an upscale) or tells (a description of a picture) decides the buttons under its result, whether 🔁
paints it again, whether its pictures can start another job, whether it shares a batch, and whether a film is
posted with it. The bot reads these declarations; the engine runs each kind with the function ``RUNS`` names for
it in ``engine/kinds.py``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class JobKind:
    name: str
    matches: Callable[[Any], bool]  # whether a ``RenderRequest`` is of this kind (the first kind that matches wins)
    what: str  # how a message names a job of this kind: "a film"
    buttons: tuple[str, ...]  # actions under its result (a set's per-candidate ones are in ``per_candidate``)
    per_candidate: tuple[str, ...] = ()  # actions with one button per candidate (U1-U4, V1-V4), a row each
    paints_again: bool = True  # 🔁 paints it again with a new seed
    again_hint: str = ""  # where 🔁 is refused: what to do instead, after the refusal's reason
    starts_others: bool = True  # its pictures can be varied, restyled and upscaled
    batches: bool = False  # may share one batch with jobs of the same model, perceptor and size
    posts_film: bool = False  # its MP4 is posted with its picture
    per_prompt: tuple[str, ...] = ()  # actions with one button per candidate prompt of a description


DESCRIBE = JobKind(
    "describe", lambda r: r.describe, "a description", (), paints_again=False, starts_others=False,
    again_hint="; describe another picture with /describe", per_prompt=("dream_prompt",),
)  # fmt: skip


PANS = ("pan_left", "pan_right", "pan_up", "pan_down")
UPSCALE = JobKind("upscale", lambda r: r.is_upscale, "an upscale", (), paints_again=False, starts_others=False)
DEEPDREAM = JobKind(
    "deepdream", lambda r: r.is_deepdream, "a DeepDream", ("upscale",), paints_again=False,
    again_hint="; dream again with /deepdream",
)  # fmt: skip
MORPH = JobKind(
    "morph", lambda r: r.morph_to is not None, "a morph film", ("gif",), paints_again=False, starts_others=False,
    posts_film=True, again_hint="; morph two pictures again with /morph",
)  # fmt: skip
FILM = JobKind("film", lambda r: r.is_film, "a film", ("again", "gif"), starts_others=False, posts_film=True)
SET = JobKind("set", lambda r: r.count > 1, "a set", ("again",), per_candidate=("upscale", "vary"))
PICTURE = JobKind(
    "picture",
    lambda r: True,
    "a picture",
    ("again", "vary_subtle", "vary_strong", "restyle", "upscale", "gif", *PANS, "zoom_out_15", "zoom_out_2", "zoom_film"),
    batches=True,
)

KINDS: dict[str, JobKind] = {
    kind.name: kind for kind in (DESCRIBE, UPSCALE, DEEPDREAM, MORPH, FILM, SET, PICTURE)
}  # in matching order


def kind_of(request: Any) -> JobKind:
    """The kind of a ``RenderRequest``: the first whose ``matches`` says yes (a picture, when no other does)."""
    return next(kind for kind in KINDS.values() if kind.matches(request))
