"""DeepDream: gradient ascent on a picture so that a layer of InceptionV1 fires harder (Mordvintsev 2015).

The picture is dreamt on from its smallest octave up: at each, the detail dreamt so far is scaled up onto
the picture at that size. Every step shifts the picture by a random jitter (so no pixel grid is learnt),
takes the gradient of the layer's mean squared activation, and moves the pixels along it, normalized by
its mean size. A prompt, when given, adds CLIP's pull towards it (the loop's spherical distance over
cutouts), so the dream leans to what was asked. The loss reported is the negated activation plus the
weighted distance to the prompt: it falls.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F

from contract.deepdream import MIN_OCTAVE_SIDE, validate_deepdream
from contract.errors import JobCancelled
from contract.options import Value
from contract.protocol import Progress, RenderRequest
from contract.validation import open_image
from engine import output
from engine.cutouts import MakeCutouts
from engine.images import image_tensor
from engine.loop import target_loss
from engine.pipeline import package_version, text_targets

if TYPE_CHECKING:
    from engine.models import Models


@dataclass
class DreamResult:
    png: bytes
    seconds: float
    losses: list[float]


def octave_sizes(width: int, height: int, octaves: int, scale: float) -> list[tuple[int, int]]:
    """The sizes dreamt at, smallest first, ending at the picture's own; octaves below ``MIN_OCTAVE_SIDE`` are left out."""
    sizes = [(round(width / scale**i), round(height / scale**i)) for i in reversed(range(octaves))]
    return [size for size in sizes if min(size) >= MIN_OCTAVE_SIDE] or [(width, height)]


def split_steps(steps: int, parts: int) -> list[int]:
    """``steps`` over ``parts`` octaves, the larger octaves taking the remainder."""
    base, extra = divmod(steps, parts)
    return [base + (1 if i >= parts - extra else 0) for i in range(parts)]


def parameters_text(request: RenderRequest, options: dict[str, Value], seconds: float) -> str:
    """The PNG's ``parameters``: what decided the dream, in the ``Key: value`` line of every dreambot picture."""
    fields = {"Steps": request.steps, "Seed": request.seed, "Size": request.size, "Model": request.model}
    fields |= {name.replace("_", " ").capitalize(): value for name, value in options.items()}
    if request.prompt.strip():
        fields["Perceptor"] = request.perceptor
    fields |= {"Time": f"{seconds:.1f}s", "Version": f"dreambot {package_version()}"}
    return f"{request.prompt}\n" + ", ".join(f"{key}: {value}" for key, value in fields.items())


def deepdream(
    engine: Models,
    request: RenderRequest,
    on_progress: Callable[[Progress], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    job_id: str = "",
) -> DreamResult:
    """Dream on ``request.init_image``; raises ``BadRequest``, ``WeightsError`` or ``JobCancelled``."""
    options = validate_deepdream(request)
    start = time.perf_counter()
    dreamer = engine.dreamer(request.model)
    steer = None
    if request.prompt.strip():
        perceptor = engine.perceptor(request.perceptor)
        targets = text_targets(request.prompt, perceptor)
        steer = (perceptor, MakeCutouts(perceptor.input_size, request.cutn, request.cut_pow), targets)
    picture = image_tensor(open_image(request.init_image), engine.device)
    picture = F.interpolate(picture, size=(request.height, request.width), mode="bicubic", antialias=True).clamp(0, 1)
    jitter = torch.Generator().manual_seed(request.seed)
    torch.manual_seed(request.seed)  # the cutouts' draws
    sizes = octave_sizes(request.width, request.height, int(options["octaves"]), float(options["octave_scale"]))
    losses: list[float] = []
    detail = torch.zeros_like(picture)
    for (width, height), steps in zip(sizes, split_steps(request.steps, len(sizes)), strict=True):
        base = F.interpolate(picture, size=(height, width), mode="bicubic", antialias=True).clamp(0, 1)
        x = (base + F.interpolate(detail, size=(height, width), mode="bilinear")).clamp(0, 1)
        for _ in range(steps):
            if should_stop is not None and should_stop():
                raise JobCancelled(f"cancelled after {len(losses)} of {request.steps} steps", len(losses))
            x, loss = _step(dreamer, x, options, jitter, steer)
            losses.append(loss)
            _report(on_progress, request, job_id, x, len(losses), loss, start)
        detail = x - base
    image = output.to_pil(x)
    seconds = time.perf_counter() - start
    return DreamResult(output.png_bytes(image, parameters_text(request, options, seconds)), seconds, losses)


def _step(dreamer, x: torch.Tensor, options: dict[str, Value], jitter: torch.Generator, steer) -> tuple[torch.Tensor, float]:
    """One step of ascent on the jittered picture; the new picture and the step's loss.

    The layer's gradient and the prompt's are each scaled to a mean size of 1 before they are mixed, so
    ``prompt_weight`` means the same on any network: at 1 the prompt pulls as hard as the layer.
    """
    reach = int(options["jitter"])
    dy, dx = torch.randint(-reach, reach + 1, (2,), generator=jitter).tolist() if reach else (0, 0)
    shifted = x.roll((dy, dx), dims=(2, 3)).detach().requires_grad_(True)
    amplified = dreamer.activations(shifted, str(options["layer"])).pow(2).mean()
    (grad,) = torch.autograd.grad(amplified, shifted)
    grad = _unit(grad)
    loss = -amplified.item()
    if steer is not None:
        perceptor, cutouts, targets = steer
        embeds = perceptor.encode_image(cutouts(shifted))
        distance = sum(target_loss(embeds, t, perceptor.parts) for t in targets)
        (pull,) = torch.autograd.grad(-distance, shifted)
        grad = grad + float(options["prompt_weight"]) * _unit(pull)
        loss += float(options["prompt_weight"]) * distance.item()
    with torch.no_grad():
        x = (x + float(options["step_size"]) * grad.roll((-dy, -dx), dims=(2, 3))).clamp(0, 1)
    return x, loss


def _unit(grad: torch.Tensor) -> torch.Tensor:
    return grad / grad.abs().mean().clamp_min(1e-8)


def _report(on_progress, request: RenderRequest, job_id: str, x: torch.Tensor, step: int, loss: float, start: float) -> None:
    if on_progress is None:
        return
    preview = None
    if step % request.preview_every == 0 or step == request.steps:
        preview = output.preview_bytes(output.small(output.to_pil(x)))
    on_progress(Progress(job_id, step, request.steps, loss, time.perf_counter() - start, preview))
