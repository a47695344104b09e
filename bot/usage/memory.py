"""Memory-aware admission: a job whose predicted peak fits no executor is refused before it queues, with the largest
size that would fit, instead of running into an out-of-memory error on the GPU (every peer's users' complaint)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from bot.admission.refusal import Refusal
from contract.costs import predict
from contract.moves import SIDE_STEP
from contract.protocol import RenderRequest
from contract.registry import lookup


def largest_fitting(request: RenderRequest, memory_gib: float, scale: float = 1.0) -> tuple[int, int] | None:
    """The largest size of ``request``'s shape (multiples of ``SIDE_STEP``) whose predicted peak (times ``scale``,
    what the model's jobs measured against the table) fits ``memory_gib``; None if even the smallest does not."""
    side = max(request.width, request.height)
    for longest in range(side - side % SIDE_STEP, SIDE_STEP - 1, -SIDE_STEP):
        width = max(SIDE_STEP, round(request.width * longest / side / SIDE_STEP) * SIDE_STEP)
        height = max(SIDE_STEP, round(request.height * longest / side / SIDE_STEP) * SIDE_STEP)
        if predict(dataclasses.replace(request, width=width, height=height)).memory_gib * scale <= memory_gib:
            return width, height
    return None


def check_fits(request: RenderRequest, memories: Sequence[float], scale: float = 1.0) -> None:
    """Refuse ``request`` if its predicted peak (times ``scale``: ``Ledger.memory_pace``) fits none of ``memories``
    (GiB of each executor; none known: no check), saying what would fit."""
    if not memories:
        return
    largest = max(memories)
    need = predict(request).memory_gib * scale
    if need <= largest:
        return
    said = f"This needs about {need:.1f} GiB of memory, more than any engine here has (the largest: {largest:.1f} GiB)"
    if request.count > 1 and predict(dataclasses.replace(request, count=1)).memory_gib * scale <= largest:
        raise Refusal(f"{said}. One picture at a time fits: ask for count 1.")
    resizable = request.kind.name not in ("upscale", "deepdream", "describe") and not lookup(request.model).native_size
    fitting = largest_fitting(request, largest, scale) if resizable else None
    if fitting is None:
        raise Refusal(f"{said}. Try a smaller picture, another model or fewer perceptors.")
    raise Refusal(f"{said}. The largest size that fits is {fitting[0]}x{fitting[1]}; fewer cutouts save memory too.")
