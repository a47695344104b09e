"""Deep Daze (SIREN+CLIP, lucidrains): the parameters are a SIREN network's weights, trained from scratch for each image.

The network maps each pixel's (x, y) to its colour, so the picture is smooth at every size.
"""

from __future__ import annotations

import torch

from engine.generators.base import Generator, clamp_with_grad
from engine.networks.siren import Siren, pixel_grid


class SirenGenerator(Generator):
    prime_steps = 200
    prime_lr = 1e-4

    def __init__(
        self,
        net: None,
        width: int,
        height: int,
        device: torch.device,
        layers: int = 16,
        hidden_width: int = 256,
        w0: float = 30.0,
    ) -> None:
        self.width, self.height = width, height
        self.net = Siren(layers, hidden_width, w0).to(device)
        self.coords = pixel_grid(width, height).to(device)

    def parameters(self) -> list[torch.Tensor]:
        return list(self.net.parameters())

    def decode(self) -> torch.Tensor:
        rgb = self.net(self.coords, self.checkpoint).T.reshape(1, 3, self.height, self.width)
        return clamp_with_grad(rgb.add(1).div(2))
