"""DeepDream (Mordvintsev, Olah and Tyka, 2015) as a job: a member's picture, dreamt on by InceptionV1.

A DeepDream request is a ``RenderRequest`` whose ``model`` is a dreamer of the registry (``inception-v1``,
``tiny-inception``) and whose ``init_image`` is the picture; ``width`` and ``height`` are the picture's
size (the output keeps it), ``steps`` are spread over the octaves, and a non-empty ``prompt`` steers the
dream towards it with the ``perceptor``. Its own knobs are the options below.
"""

from __future__ import annotations

from collections.abc import Mapping

from contract.errors import BadRequest
from contract.limits import MAX_SIDE
from contract.options import Option, Value, resolve_options
from contract.prompts import parse_prompts

# InceptionV1's layers in the order it runs them; the ones worth dreaming on can be chosen.
LAYERS = (
    "conv1",
    "maxpool1",
    "conv2",
    "conv3",
    "maxpool2",
    "inception3a",
    "inception3b",
    "maxpool3",
    "inception4a",
    "inception4b",
    "inception4c",
    "inception4d",
    "inception4e",
    "maxpool4",
    "inception5a",
    "inception5b",
)
DREAM_LAYERS = tuple(layer for layer in LAYERS if not layer.startswith(("conv1", "maxpool")))
DEFAULT_DREAM_STEPS = 40
MIN_OCTAVE_SIDE = 32  # smaller octaves are skipped: InceptionV1 sees nothing in them

OPTIONS = (
    Option(
        "layer",
        str,
        "inception4c",
        lambda v: v in DREAM_LAYERS,
        f"one of {', '.join(DREAM_LAYERS)}",
        "the layer whose activations are amplified: early ones paint textures, late ones eyes and dogs",
    ),
    Option("octaves", int, 4, lambda v: 1 <= v <= 8, "between 1 and 8", "scales dreamt at, each octave_scale larger"),
    Option("octave_scale", float, 1.4, lambda v: 1.1 <= v <= 2.0, "between 1.1 and 2", "size ratio between octaves"),
    Option("jitter", int, 32, lambda v: 0 <= v <= 128, "between 0 and 128", "pixels the picture shifts by at random each step"),
    Option(
        "step_size",
        float,
        0.01,
        lambda v: 0 < v <= 1,
        "above 0 and at most 1",
        "how far each step moves the pixels, for a gradient of average size 1",
    ),
    Option(
        "prompt_weight",
        float,
        1.0,
        lambda v: 0 <= v <= 100,
        "between 0 and 100",
        "how strongly a prompt steers the dream, against the layer's pull",
    ),
)


def dream_options(given: Mapping[str, object]) -> dict[str, Value | None]:
    """Every DeepDream option with ``given`` checked and applied over the defaults."""
    return resolve_options("DeepDream", OPTIONS, given)


def validate_deepdream(request) -> dict[str, Value | None]:
    """A DeepDream request's options, or ``BadRequest`` naming its first problem."""
    from contract.validation import check_perceptor, check_seed, check_steps, open_image

    if not request.init_image:
        raise BadRequest("DeepDream dreams on a picture; give one")
    if request.prompt.strip():
        parse_prompts(request.prompt)
        check_perceptor(request.perceptor)
    check_steps(request.steps)
    if not (1 <= request.width <= MAX_SIDE and 1 <= request.height <= MAX_SIDE):
        raise BadRequest(f"the picture is {request.width}x{request.height}; DeepDream takes pictures up to {MAX_SIDE} a side")
    if request.count != 1 or request.is_film:
        raise BadRequest("DeepDream makes one picture; it paints no sets and no films")
    check_seed(request.seed)
    options = dream_options(request.options)
    open_image(request.init_image)
    return options


def fitted(width: int, height: int, max_width: int, max_height: int) -> tuple[int, int]:
    """A picture's size scaled down, keeping its shape, to fit within ``max_width`` x ``max_height``."""
    scale = min(1.0, max_width / width, max_height / height)
    return max(1, round(width * scale)), max(1, round(height * scale))
