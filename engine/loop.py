"""The CLIP-steered optimization loop (after Crowson's VQGAN+CLIP, 2021), the same for every generator.

Each step: decode the image, cut it into augmented cutouts, embed them all at once, and move
the generator's parameters down the weighted spherical distance to every prompt (plus the
generator's own regularizer, if it has one). No I/O here:
progress goes to ``callback``, and ``should_stop`` is checked between steps.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import torch
import torch.nn.functional as F

from engine.errors import Cancelled
from engine.generators.base import Generator


class Judge(Protocol):
    input_size: int

    def encode_image(self, images: torch.Tensor) -> torch.Tensor: ...


@dataclass
class Target:
    """Unit embeddings ``[k, d]`` to pull towards (``weight > 0``) or push from (``weight < 0``)."""

    embeds: torch.Tensor
    weight: float = 1.0
    stop: float = -math.inf


def spherical_distance(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Squared great-circle distance between unit vectors (0 for equal, up to 2*(pi/2)**2)."""
    return (x - y).norm(dim=-1).div(2).arcsin().pow(2).mul(2)


def target_loss(embeds: torch.Tensor, target: Target) -> torch.Tensor:
    """Mean distance of every cutout to every target embedding, weighted; gradients stop past ``stop``."""
    d = spherical_distance(embeds[:, None], target.embeds[None])
    active = d > target.stop if target.weight > 0 else d < -target.stop
    d = torch.where(active, d, d.detach())
    return target.weight * d.mean()


def make_optimizer(name: str, params: list[torch.Tensor], lr: float) -> torch.optim.Optimizer:
    optimizers = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW, "sgd": torch.optim.SGD}
    return optimizers[name](params, lr=lr)


def dream(
    generator: Generator,
    perceptor: Judge,
    targets: list[Target],
    make_cutouts: Callable[[torch.Tensor], torch.Tensor],
    optimizer: torch.optim.Optimizer,
    steps: int,
    callback: Callable[[dict], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    init_image: torch.Tensor | None = None,
    init_weight: float = 0.0,
) -> list[float]:
    """Run ``steps`` optimization steps and return the loss of each.

    ``callback`` gets ``{"step", "loss"}`` after every step. Raises ``Cancelled`` when
    ``should_stop()`` turns true.
    """
    losses = []
    for step in range(1, steps + 1):
        if should_stop is not None and should_stop():
            raise Cancelled(f"cancelled after {step - 1} of {steps} steps", step - 1)
        optimizer.zero_grad(set_to_none=True)
        image = generator.decode()
        embeds = perceptor.encode_image(make_cutouts(image))
        loss = sum(target_loss(embeds, t) for t in targets)
        if init_image is not None and init_weight:
            loss = loss + init_weight * F.mse_loss(image, init_image)
        if (penalty := generator.penalty()) is not None:
            loss = loss + penalty
        loss.backward()
        optimizer.step()
        generator.after_step()
        losses.append(loss.item())
        if callback is not None:
            callback({"step": step, "loss": losses[-1]})
    return losses
