"""Requests with every field away from its default, for round trips (the wire, the PNG, ``--from``)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from PIL import Image

from contract.limits import DEFAULT_PREVIEW_EVERY
from contract.protocol import RenderRequest

NON_DEFAULT = {
    "prompt": "a castle, at dusk | fog:0.5",
    "model": "tiny-biggan",
    "perceptor": "tiny-clip",
    "width": 64,
    "height": 64,
    "steps": 42,
    "seed": 7,
    "cutn": 16,
    "cut_pow": 0.8,
    "lr": 0.02,
    "optimizer": "adamw",
    "init_image": "start.png",
    "init_weight": 0.25,
    "init_noise": 0.3,
    "image_prompts": ("picture.png:2", "picture.png"),
    "noise_prompts": ("3:0.5", "9"),
    "preview_every": 3,
    "options": {"truncation": 0.5, "max_classes": 3},
    "zoom_frames": 4,
    "steps_per_frame": 5,
    "zoom": 1.1,
    "rotate": 2.5,
    "shift": (1.0, -2.0),
    "story_fade": 0.4,
    "captions": True,
    "count": 2,
    "keep": (8, 4, 40, 56),
    "morph_to": "end.png",
    "describe": True,
}


def painted(folder: Path, **fields: object) -> RenderRequest:
    """A valid request with files where it names them."""
    for name in ("start.png", "picture.png"):
        Image.new("RGB", (8, 8)).save(folder / name)
    values = NON_DEFAULT | {"init_image": str(folder / "start.png")}
    values["image_prompts"] = tuple(str(folder / p) for p in NON_DEFAULT["image_prompts"])
    still = values | {
        "zoom_frames": 0,
        "count": 1,
        "keep": (),
        "prompt": "a castle, at dusk | fog:0.5",
        "describe": False,
        "morph_to": None,
    }
    return RenderRequest(**(still | fields))


# What each kind of picture records beyond a still's fields, given a value away from the default.
KINDS = {
    "still": {"keep": (8, 4, 40, 56)},
    "zoom": {"zoom_frames": 4, "steps_per_frame": 5, "zoom": 1.1, "rotate": 2.5, "shift": (1.0, -2.0)},
    "story": {"prompt": "a castle || a ruin | fog:0.5", "story_fade": 0.4, "captions": True},
    "set": {"count": 3},
}


WRITTEN_OPTIONS = {"truncation": 0.5, "max_classes": 3, "class_temperature": 2.0, "ema_decay": 0.99}  # defaults written out


def as_recorded(request: RenderRequest, kind: str) -> RenderRequest:
    """``request`` as its PNG records it: the family's options in full, the preview rate (how it was shown, not
    what it shows) at its default, and the fields of the other kinds of picture, which do not apply, at theirs."""
    others = {name for fields in KINDS.values() for name in fields} - set(KINDS[kind]) - {"prompt"}
    defaults = {name: getattr(RenderRequest("x"), name) for name in others}
    return dataclasses.replace(request, options=WRITTEN_OPTIONS, preview_every=DEFAULT_PREVIEW_EVERY, **defaults)
