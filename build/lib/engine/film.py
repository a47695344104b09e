"""What a film adds to the loop: moving the picture between zoom frames, and fading one scene's
prompts into the next. The segments themselves are planned in ``contract.films``."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F

from contract.films import Segment
from engine.loop import Target


@torch.no_grad()
def transform(image: torch.Tensor, zoom: float, rotate: float, shift: tuple[float, float]) -> torch.Tensor:
    """``image`` ``[n, 3, H, W]`` scaled by ``zoom`` about its centre, turned ``rotate`` degrees
    counter-clockwise and moved ``shift`` pixels (right, down); edges that come into view are mirrored."""
    n, _, height, width = image.shape
    angle = math.radians(rotate)
    cos, sin = math.cos(angle) / zoom, math.sin(angle) / zoom
    # affine_grid maps output to input in [-1, 1] coordinates: the inverse of the motion on screen
    theta = torch.tensor(
        [[cos, -sin * height / width, -2 * shift[0] / width], [sin * width / height, cos, -2 * shift[1] / height]],
        dtype=torch.float32,
        device=image.device,
    )
    grid = F.affine_grid(theta.expand(n, 2, 3), [n, 3, height, width], align_corners=False)
    return F.grid_sample(image.float(), grid, mode="bilinear", padding_mode="reflection", align_corners=False)


@dataclass
class SceneSpan:
    first_step: int
    steps: int


def scene_spans(segments: list[Segment]) -> dict[int, SceneSpan]:
    """Where each scene starts in the film, and how many steps it has in all."""
    spans: dict[int, SceneSpan] = {}
    for segment in segments:
        span = spans.setdefault(segment.scene, SceneSpan(segment.first_step, 0))
        span.steps += segment.steps
    return spans


class SceneBlend:
    """The targets of a scene and of the one before it, as one list whose weights move from the old
    scene to the new over the first ``fade`` of the new scene's steps (``at`` sets them for a step)."""

    def __init__(self, previous: list[Target], current: list[Target], span: SceneSpan, fade: float) -> None:
        self.base = [*previous, *current]
        self.old = len(previous)
        self.targets = [replace(target) for target in self.base]
        self.span = span
        self.fade_steps = round(fade * span.steps) if previous else 0

    def share(self, step: int) -> float:
        """How far the new scene has taken over at film step ``step`` (1-based), from 0 to 1."""
        if self.fade_steps <= 0:
            return 1.0
        return min(1.0, (step - self.span.first_step) / self.fade_steps)

    def at(self, step: int) -> list[Target]:
        share = self.share(step)
        for i, (target, base) in enumerate(zip(self.targets, self.base, strict=True)):
            target.weight = base.weight * (1 - share if i < self.old else share)
        return self.targets
