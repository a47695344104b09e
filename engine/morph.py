"""What a morph film adds to the loop: the painter fitted to each of its two pictures, and the straight path
between the two fits (``contract/films.py`` says how the frames are laid on it)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace

import torch
import torch.nn.functional as F

from engine.generators.base import Generator
from engine.loop import Target

Parameters = list[torch.Tensor]


def fit(generator: Generator, picture: torch.Tensor, steps: int, on_step: Callable[[int, float], None]) -> Parameters:
    """The painter's parameters that paint ``picture``: its own start from a picture, then ``steps`` steps of
    pixel error, so a painter without an encoder lands on the picture too. Returns a copy of them."""
    generator.init_from_image(picture)
    optimizer = torch.optim.Adam(generator.parameters(), lr=generator.prime_lr)
    for step in range(1, steps + 1):
        optimizer.zero_grad(set_to_none=True)
        loss = F.mse_loss(generator.decode(), picture)
        loss.backward()
        optimizer.step()
        on_step(step, loss.item())
    return [p.detach().clone() for p in generator.parameters()]


@torch.no_grad()
def between(start: Parameters, end: Parameters, share: float) -> Parameters:
    """The point ``share`` of the way from ``start`` to ``end``."""
    return [a.lerp(b, share) for a, b in zip(start, end, strict=True)]


def blended(first: Sequence[Target], second: Sequence[Target], share: float) -> list[Target]:
    """Both ends' prompts, the first's weights times ``1 - share`` and the second's times ``share``."""
    return [replace(t, weight=t.weight * (1 - share)) for t in first] + [replace(t, weight=t.weight * share) for t in second]
