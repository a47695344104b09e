"""The ``parameters`` text a PNG carries, in the Stable Diffusion web UI's "PNG Info" layout: the prompt,
then one line of ``Key: value`` pairs. Written by the engine for every result; read back by
``dreambot render --from``, which paints the same picture again from it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from contract.deepdream import OPTIONS as DREAM_OPTIONS
from contract.errors import BadRequest, without_paths
from contract.families import ALL_OPTIONS
from contract.registry import dreamer_names
from contract.validation import ResolvedRequest, parse_size

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"  # the first eight bytes of every PNG

_PAIR = re.compile(r'(?P<key>[A-Z][A-Za-z ]*): (?P<value>"[^"]*"|[^,]*)(?:, |$)')
_FIELDS: dict[str, tuple[str, Callable[[str], Any]]] = {
    "Steps": ("steps", int),
    "Seed": ("seed", int),
    "Model": ("model", str),
    "Perceptor": ("perceptor", str),
    "Cutn": ("cutn", int),
    "Cut pow": ("cut_pow", float),
    "Optimizer": ("optimizer", str),
    "LR": ("lr", float),
    "Init weight": ("init_weight", float),
    "Zoom frames": ("zoom_frames", int),
    "Steps per frame": ("steps_per_frame", int),
    "Zoom": ("zoom", float),
    "Rotate": ("rotate", float),
    "Scene fade": ("story_fade", float),
    "Captions": ("captions", lambda text: text == "on"),
    "Init noise": ("init_noise", float),
    "Count": ("count", int),
}
_OPTIONS = {option.label: option for option in ALL_OPTIONS.values()}
_IGNORED = ("Time", "Version", "Upscale")  # an upscaled picture is painted again at its own size


def write(resolved: ResolvedRequest, seconds: float, version: str) -> str:
    """The Stable Diffusion web UI "PNG Info" layout: the prompt, then one line of ``Key: value`` pairs.

    Generator options are written with their resolved values, defaults included, so the line alone
    reproduces the picture.
    """
    request = resolved.request
    pairs: dict[str, object] = {
        "Steps": request.steps,
        "Seed": request.seed,
        "Size": request.size,
        "Model": request.model,
        "Perceptor": request.perceptor,
        "Cutn": request.cutn,
        "Cut pow": request.cut_pow,
        "Optimizer": request.optimizer,
        "LR": resolved.lr,
    }
    for option in resolved.family.options:
        if (value := resolved.options[option.name]) is not None and option.applies_to(request.model, resolved.options):
            pairs[option.label] = value
    if request.init_image:
        pairs["Init image"] = Path(request.init_image).name  # the file's name: not where it lives on this machine
        pairs["Init weight"] = request.init_weight
        if request.init_noise:
            pairs["Init noise"] = request.init_noise
        if request.keep:
            pairs["Keep"] = " ".join(map(str, request.keep))
    if request.image_prompts:
        pairs["Image prompts"] = " | ".join(without_paths(item) for item in request.image_prompts)
    if request.noise_prompts:
        pairs["Noise prompts"] = " | ".join(request.noise_prompts)
    if request.zoom_frames:
        pairs |= {"Zoom frames": request.zoom_frames, "Steps per frame": request.steps_per_frame, "Zoom": request.zoom}
        pairs |= {"Rotate": request.rotate, "Shift": f"{request.shift[0]:g} {request.shift[1]:g}"}
    if len(request.scenes) > 1:
        pairs |= {"Scene fade": request.story_fade, "Captions": "on" if request.captions else "off"}
    if request.count > 1:
        pairs["Count"] = request.count  # a grid: its candidates have the seeds from Seed up
    pairs["Time"] = f"{seconds:.1f}s"
    pairs["Version"] = f"dreambot {version}"
    line = ", ".join(f"{key}: {_quote(value)}" for key, value in pairs.items())
    return f"{request.prompt}\n{line}"


def _quote(value: object) -> str:
    text = str(value)
    return f'"{text}"' if "," in text or ":" in text else text


def _dream_again(prompt: str, pairs: dict[str, str]) -> str:
    """The ``dreambot deepdream`` command that dreams a DeepDream's picture again, from its parameters."""
    flags = [f"--model {pairs['Model']}"]
    flags += [f"--{key.lower()} {pairs[key]}" for key in ("Steps", "Seed") if key in pairs]
    flags += [f"{option.flag} {pairs[option.label]}" for option in DREAM_OPTIONS if option.label in pairs]
    if prompt:
        flags.append(f'--prompt "{prompt}"')
    return f"dream on the picture again with: dreambot deepdream PICTURE {' '.join(flags)}"


def read(text: str) -> dict[str, Any]:
    """The request fields ``text`` records, for ``RenderRequest(**fields)``; ``BadRequest`` when it is
    not dreambot's. Files it names (an init image, image prompts) are not where they were painted: the
    fields ``init_image`` and ``image_prompts`` hold their recorded names, to be given again."""
    prompt, _, line = text.rpartition("\n")
    pairs = {match["key"]: match["value"].strip('"') for match in _PAIR.finditer(line)}
    if pairs.get("Model") in dreamer_names() and pairs.get("Version", "").startswith("dreambot"):
        raise BadRequest(f"it is a DeepDream of a picture, which render does not paint; {_dream_again(prompt, pairs)}")
    if not prompt or not pairs.get("Version", "").startswith("dreambot"):
        raise BadRequest("its parameters were not written by dreambot (they name no dreambot version)")
    fields: dict[str, Any] = {"prompt": prompt, "options": {}}
    for key, value in pairs.items():
        try:
            if key in _FIELDS:
                name, kind = _FIELDS[key]
                fields[name] = kind(value)
            elif key in _OPTIONS:
                fields["options"][_OPTIONS[key].name] = _OPTIONS[key].kind(value)
            elif key == "Size":
                fields["width"], fields["height"] = parse_size(value)
            elif key == "Shift":
                fields["shift"] = tuple(float(part) for part in value.split())
            elif key == "Keep":
                fields["keep"] = tuple(int(part) for part in value.split())
            elif key == "Init image":
                fields["init_image"] = value
            elif key in ("Image prompts", "Noise prompts"):
                fields[key.lower().replace(" ", "_")] = tuple(value.split(" | "))
            elif key not in _IGNORED:
                raise BadRequest(f"its parameters hold {key!r}, which dreambot does not write")
        except ValueError:
            raise BadRequest(f"its parameter {key!r} is not readable: {value!r}") from None
    return fields
