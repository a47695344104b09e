"""SIREN (Sitzmann et al., 2020): a sine-activated coordinate network mapping each pixel's (x, y) to its colour.

The initialization is the paper's: the first layer sees frequencies up to ``w0``, the hidden layers
are scaled so that activations stay arcsine-distributed however deep the network is. Deep Daze
trains one from scratch for each picture (``engine/generators/deep_daze.py``).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from engine.networks.recompute import segment

HEAD_SCALE = 0.1  # start from a quiet grey: at full scale a third of the pixels begin clipped, with no gradient


class SineLayer(nn.Module):
    def __init__(self, fan_in: int, fan_out: int, w0: float, first: bool) -> None:
        super().__init__()
        self.w0 = w0
        self.linear = nn.Linear(fan_in, fan_out)
        bound = 1 / fan_in if first else math.sqrt(6 / fan_in) / w0
        nn.init.uniform_(self.linear.weight, -bound, bound)
        nn.init.uniform_(self.linear.bias, -bound, bound)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sin(self.w0 * self.linear(x))


class Siren(nn.Module):
    """``layers`` sine layers of ``width`` units, then a linear layer to RGB in about [-1, 1]."""

    def __init__(self, layers: int, width: int, w0: float) -> None:
        super().__init__()
        hidden = [SineLayer(width, width, 1.0, first=False) for _ in range(layers - 1)]
        self.body = nn.Sequential(SineLayer(2, width, w0, first=True), *hidden)
        self.head = nn.Linear(width, 3)
        bound = HEAD_SCALE * math.sqrt(6 / width)
        nn.init.uniform_(self.head.weight, -bound, bound)
        nn.init.uniform_(self.head.bias, -bound, bound)

    def forward(self, coords: torch.Tensor, checkpoint: bool = False) -> torch.Tensor:
        h = coords
        for layer in self.body:
            h = segment(checkpoint, layer, h)
        return self.head(h)


def pixel_grid(width: int, height: int) -> torch.Tensor:
    """``[H * W, 2]`` pixel centres as (x, y), the longer side spanning [-1, 1] so pixels stay square."""
    scale = max(width, height)
    xs = (torch.arange(width) + 0.5 - width / 2) * (2 / scale)
    ys = (torch.arange(height) + 0.5 - height / 2) * (2 / scale)
    y, x = torch.meshgrid(ys, xs, indexing="ij")
    return torch.stack((x, y), dim=-1).reshape(-1, 2)
