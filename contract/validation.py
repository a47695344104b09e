"""Checks a request before anything heavy is loaded, so bad input fails fast and writes nothing.

``validate`` turns a request into a ``ResolvedRequest``: the model's spec, its family and the
options and learning rate it runs with, looked up once. The engine, the loop and the PNG writer
take that object rather than looking the names up again.
"""

from __future__ import annotations

import difflib
import math
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from contract import registry
from contract.errors import BadRequest, WeightsError
from contract.families import Family
from contract.films import MAX_FRAMES, MAX_SHIFT, MAX_ZOOM, check_morph, check_scenes
from contract.limits import (
    IMAGE_FORMATS,
    MAX_COUNT,
    MAX_CUTN,
    MAX_IMAGE_PIXELS,
    MAX_SEED,
    MAX_SIDE,
    MAX_STEPS,
    MIN_SIDE,
    OPTIMIZERS,
)
from contract.models import PERCEPTOR_KIND, ModelSpec
from contract.options import Value
from contract.prompts import parse_item, parse_noise_prompt, parse_prompts
from contract.protocol import RenderRequest

_SIZE = re.compile(r"\s*(\d{1,6})\s*[xX×]\s*(\d{1,6})\s*", re.ASCII)


def parse_size(text: str) -> tuple[int, int]:
    """``"WxH"`` to ``(width, height)``."""
    match = _SIZE.fullmatch(text)
    if not match:
        raise BadRequest(f"size {text!r} is not of the form WIDTHxHEIGHT, e.g. 256x256")
    return int(match[1]), int(match[2])


def size_for(model: str, requested: str | None, default: str) -> tuple[int, int]:
    """The size to paint: the one asked for, else the model's only size if it has one, else ``default``."""
    if requested:
        return parse_size(requested)
    native = registry.lookup(model).native_size
    return (native, native) if native else parse_size(default)


def check_size(spec: ModelSpec, width: int, height: int) -> None:
    """Refuse a size the model cannot paint, naming the sizes it can."""
    model = spec.name
    if spec.native_size and (width, height) != (spec.native_size, spec.native_size):
        sizes = ", ".join(f"{s.native_size}x{s.native_size} ({s.name})" for s in registry.fixed_size_generators(spec.family))
        raise BadRequest(
            f"the model {model} paints {spec.native_size}x{spec.native_size} only, not {width}x{height}; "
            f"leave the size out, or pick the model for the size you want: {sizes}"
        )
    multiple = spec.size_multiple
    low = max(multiple, MIN_SIDE)
    for side, value in (("width", width), ("height", height)):
        if not low <= value <= MAX_SIDE:
            raise BadRequest(f"{side} {value} is out of range: {model} makes sides from {low} to {MAX_SIDE} pixels")
        if value % multiple:
            raise BadRequest(
                f"the model {model} makes sides that are multiples of {multiple}; {width}x{height} is not "
                f"(try {_round(width, multiple)}x{_round(height, multiple)})"
            )


def _round(value: int, multiple: int) -> int:
    return max(multiple, round(value / multiple) * multiple)


def open_image(path: str) -> Image.Image:
    """Open and fully decode an image file as RGB, refusing decompression bombs."""
    file = Path(path).expanduser()
    if not file.is_file():
        raise BadRequest(f"image {path!r} does not exist or is not a file")
    try:
        with Image.open(file, formats=IMAGE_FORMATS) as image:
            if image.width * image.height > MAX_IMAGE_PIXELS:
                raise BadRequest(f"image {path!r} is {image.width}x{image.height}, more than {MAX_IMAGE_PIXELS} pixels")
            return image.convert("RGB")
    except (OSError, Image.DecompressionBombError, ValueError) as error:
        raise BadRequest(f"image {path!r} could not be read as a picture ({error})") from None


@dataclass(frozen=True)
class ResolvedRequest:
    """A valid request with everything its names stand for, looked up once."""

    request: RenderRequest
    spec: ModelSpec
    family: Family
    options: dict[str, Value | None]  # every option of the family, defaults included
    lr: float


def validate(request: RenderRequest) -> ResolvedRequest:
    """The request resolved, or ``BadRequest`` naming the first problem with it."""
    check_film(request)
    for scene in request.scenes:
        parse_prompts(scene)
    try:
        spec = registry.lookup(request.model)
    except WeightsError as error:
        raise BadRequest(str(error)) from None
    if spec.family == PERCEPTOR_KIND:
        raise BadRequest(f"{request.model} is a perceptor, not a generator; generators: {', '.join(registry.generator_names())}")
    family = registry.family_of(spec)
    options = family.resolve_options(request.model, request.options)
    check_perceptor(request.perceptor)
    check_steps(request.steps)
    if request.total_steps > MAX_STEPS:
        raise BadRequest(f"the film takes {request.total_steps} steps in all, more than {MAX_STEPS}; use fewer frames or steps")
    check_size(spec, request.width, request.height)
    check_knobs(request)
    if request.preview_every < 1:
        raise BadRequest("preview_every must be at least 1")
    check_seed(request.seed)
    check_set(request)
    if not 0 <= request.init_noise <= 1:
        raise BadRequest(f"init_noise must be between 0 and 1, not {request.init_noise}")
    if request.init_noise and not request.init_image:
        raise BadRequest("init_noise mixes noise into an init image; give one")
    check_keep(request)
    if request.init_image:
        open_image(request.init_image)
    for item in request.image_prompts:
        open_image(parse_item(item).text)
    for item in request.noise_prompts:
        parse_noise_prompt(item)
    return ResolvedRequest(request, spec, family, options, family.learning_rate(request.lr, options))


def check_film(request: RenderRequest) -> None:
    """``BadRequest`` naming what is wrong with a film's settings (a still picture passes)."""
    parts, frames, steps = check_scenes(request.prompt), request.zoom_frames, request.steps
    if not 0 <= frames <= MAX_FRAMES:
        raise BadRequest(f"zoom frames must be between 1 and {MAX_FRAMES}, not {frames}")
    if frames and request.steps_per_frame < 1:
        raise BadRequest(f"steps per frame must be at least 1, not {request.steps_per_frame}")
    if frames and len(parts) > frames:
        raise BadRequest(f"a zooming story needs at least one frame per scene: {len(parts)} scenes, {frames} frames")
    if not frames and 1 < len(parts) > steps:
        raise BadRequest(f"a story needs at least one step per scene: {len(parts)} scenes, {steps} steps")
    if request.morph_to is not None:
        check_morph(request)
    if not 1 / MAX_ZOOM <= request.zoom <= MAX_ZOOM:
        raise BadRequest(f"zoom must be between {1 / MAX_ZOOM:g} and {MAX_ZOOM:g} a frame (1.02: 2% closer), not {request.zoom}")
    if not math.isfinite(request.rotate):
        raise BadRequest(f"rotate must be a number of degrees, not {request.rotate}")
    if any(not abs(value) <= MAX_SHIFT for value in request.shift):
        raise BadRequest(f"shift must be within {MAX_SHIFT:g} pixels a frame on each axis, not {request.shift}")
    if not 0 <= request.story_fade <= 1:
        raise BadRequest(f"the scenes' fade is a share of a scene's steps, from 0 to 1, not {request.story_fade}")


DEVICE = re.compile(r"auto|cpu|cuda(:\d+)?")


def check_device(name: str) -> None:
    """A device name torch will take, checked without torch (importing it alone takes seconds)."""
    if not DEVICE.fullmatch(name):
        hint = " (a GPU is cuda, or cuda:N for the Nth)" if name.lower() in ("gpu", "nvidia", "cuda0", "gpu0") else ""
        raise BadRequest(f"device {name!r} is not one of: auto, cpu, cuda, cuda:N{hint}")


GPU_DRIVERS = ("/proc/driver/nvidia", "/dev/nvidiactl", "/dev/kfd", "/dev/dxg")  # NVIDIA's, ROCm's, WSL2's


def check_device_here(name: str, drivers: tuple[str, ...] = GPU_DRIVERS) -> None:
    """``name``, and for a GPU a Linux machine that shows a GPU driver: without one, torch would say that it
    sees no GPU only after seconds of importing. Checked where the engine runs (not in a config shared by
    several machines); other systems are left to torch."""
    check_device(name)
    if name.startswith("cuda") and sys.platform == "linux" and not any(Path(driver).exists() for driver in drivers):
        raise BadRequest(f"device {name} was asked for, but this machine shows no GPU driver (no {drivers[0]}); use auto or cpu")


def check_perceptor(name: str) -> None:
    """A perceptor name: tiny-clip, an open_clip ``MODEL/PRETRAINED`` pair, or an ensemble ``A+B`` of those."""
    members = registry.perceptor_members(name)
    if len(members) > registry.MAX_ENSEMBLE:
        raise BadRequest(f"an ensemble may join at most {registry.MAX_ENSEMBLE} perceptors, not {len(members)}")
    if len(set(members)) < len(members):
        raise BadRequest(f"perceptor ensemble {name!r} names one perceptor twice")
    for member in members:
        model, slash, tag = member.partition("/")
        if not (member in registry.perceptor_names() or (slash and model and tag)):
            known = [*registry.perceptor_names(), *registry.KNOWN_PERCEPTORS]
            close = difflib.get_close_matches(member, known, n=1, cutoff=0.6)
            raise BadRequest(
                f"perceptor {member!r} must be tiny-clip or an open_clip MODEL/PRETRAINED pair, e.g. ViT-B-32/openai "
                f"(join several with {registry.ENSEMBLE_SEPARATOR} for an ensemble)"
                + (f"; did you mean {close[0]}?" if close else "")
            )


def check_keep(request: RenderRequest) -> None:
    """A kept region (Pan, Zoom Out) is a box of whole pixels inside the picture, of a still started from a picture."""
    if not request.keep:
        return
    if len(request.keep) != 4 or not all(isinstance(v, int) and not isinstance(v, bool) for v in request.keep):
        raise BadRequest("keep is a box of four whole numbers: x, y, width, height")
    x, y, width, height = request.keep
    if min(x, y) < 0 or width <= 0 or height <= 0 or x + width > request.width or y + height > request.height:
        raise BadRequest(f"the kept box {x},{y} {width}x{height} is not inside the {request.size} picture")
    if not request.init_image:
        raise BadRequest("a kept region keeps part of an init image; give one")
    if request.is_film:
        raise BadRequest("a zoom or a story does not keep a region; pan or zoom out a still")


def check_knobs(request: RenderRequest) -> None:
    """The loop's knobs, the same for the command line and /dream's advanced options."""
    if not 1 <= request.cutn <= MAX_CUTN:
        raise BadRequest(f"cutn must be between 1 and {MAX_CUTN}, not {request.cutn}")
    for name, value in (("cut_pow", request.cut_pow), ("lr", request.lr)):
        if value is not None and not (math.isfinite(value) and value > 0):
            raise BadRequest(f"{name} must be a positive number, not {value}")
    if not (math.isfinite(request.init_weight) and request.init_weight >= 0):
        raise BadRequest(f"init_weight must be 0 or more, not {request.init_weight}")
    if request.optimizer not in OPTIMIZERS:
        raise BadRequest(f"optimizer {request.optimizer!r} is not one of {', '.join(OPTIMIZERS)}")


def check_set(request: RenderRequest) -> None:
    """A set paints 1 to ``MAX_COUNT`` candidates, all stills, all seeds in range."""
    if not 1 <= request.count <= MAX_COUNT:
        raise BadRequest(f"count must be between 1 and {MAX_COUNT}, not {request.count}")
    if request.count > 1 and request.is_film:
        raise BadRequest("a zoom or a story is one film; it is not painted as several candidates")
    if request.seed + request.count - 1 > MAX_SEED:
        raise BadRequest(f"the candidates' seeds run from the seed up; the last may be at most {MAX_SEED}")


def validate_upscale(request: RenderRequest) -> None:
    """An upscale job names an upscaler as its model and the picture as its init image."""
    if not request.is_upscale:
        raise BadRequest(f"unknown upscaler {request.model!r}; upscalers: {', '.join(registry.upscaler_names())}")
    if not request.init_image:
        raise BadRequest("an upscale needs the picture to upscale")
    open_image(request.init_image)


def check_steps(steps: int) -> None:
    if not 1 <= steps <= MAX_STEPS:
        raise BadRequest(f"steps must be between 1 and {MAX_STEPS}, not {steps}")


def check_seed(seed: int) -> None:
    if not 0 <= seed <= MAX_SEED:
        raise BadRequest(f"the seed must be between 0 and {MAX_SEED}, not {seed}")
