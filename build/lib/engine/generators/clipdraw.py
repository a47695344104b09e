"""CLIPDraw (Frans, Soros and Witkowski, 2021): a picture made of Bézier strokes steered by CLIP.

Each stroke's control points, width and RGBA colour are learnt through the differentiable rasterizer of
``engine/generators/strokes.py``. The parameters are scaled so one learning rate suits them all: points in
fractions of the picture's longer side, widths in tenths of ``WIDTH_UNIT`` pixels.
"""

from __future__ import annotations

import torch

from contract.colours import rgb
from engine.generators.base import Generator, clamp_with_grad
from engine.generators.strokes import Strokes, rasterize, svg

SPREAD = 0.05  # how far, as a share of the picture, a stroke's next control point starts from the one before
WIDTH_UNIT = 10.0  # pixels per unit of the width parameter: at lr 0.01, a tenth of a pixel per step


class CLIPDrawGenerator(Generator):
    prime_steps = 50  # fitting strokes to an init image: each step rasterizes, which costs more than a decoder pass
    prime_lr = 0.01

    def __init__(
        self,
        net: None,
        width: int,
        height: int,
        device: torch.device,
        strokes: int = 128,
        min_width: float = 1.0,
        max_width: float = 20.0,
        background: str = "white",
    ) -> None:
        self.width, self.height = width, height
        self.scale = float(max(width, height))
        self.min_width, self.max_width = min_width, max_width
        start = torch.rand(strokes, 1, 2) * torch.tensor([width, height]) / self.scale
        steps = (torch.rand(strokes, 3, 2) - 0.5) * 2 * SPREAD
        self.points = torch.cat([start, start + steps.cumsum(dim=1)], dim=1).to(device).requires_grad_(True)
        widths = min_width + torch.rand(strokes) * (max_width - min_width) / 4
        self.widths = (widths / WIDTH_UNIT).to(device).requires_grad_(True)
        self.colours = torch.rand(strokes, 4).to(device).requires_grad_(True)
        self.background = torch.tensor(rgb(background), dtype=torch.float32, device=device) / 255

    def parameters(self) -> list[torch.Tensor]:
        return [self.points, self.widths, self.colours]

    def strokes(self) -> Strokes:
        return Strokes(self.points * self.scale, self.widths * WIDTH_UNIT, self.colours, self.background)

    def decode(self) -> torch.Tensor:
        return clamp_with_grad(rasterize(self.strokes(), self.width, self.height))

    @torch.no_grad()
    def after_step(self) -> None:
        self.widths.clamp_(self.min_width / WIDTH_UNIT, self.max_width / WIDTH_UNIT)
        self.colours.clamp_(0, 1)

    @torch.no_grad()
    def vector(self) -> str:
        return svg(self.strokes(), self.width, self.height)
