"""StyleGAN+CLIP (StyleCLIP's latent optimization, 2021): CLIP steers a pretrained StyleGAN through W+.

W+ is one w per synthesis layer. The run starts from the mapping network's average w, or from the w of
``start_seed`` pulled towards the average by ``truncation_psi``, and each layer's w moves on its own.
StyleGAN2's noise maps stay the recorded constants unless ``noise="optimize"`` makes them parameters too;
StyleGAN3 has none. An init image is fitted in W+ by the base class's short optimization.
"""

from __future__ import annotations

from typing import ClassVar

import torch

from contract.errors import BadRequest
from engine.generators.base import Generator, clamp_with_grad
from engine.networks.stylegan import StyleGAN


class StyleGANGenerator(Generator):
    prime_lr: ClassVar[float] = 0.05  # fitting an init image: 100 steps at 0.01 left a flat colour 2.8x nearer, at 0.05 4.6x

    def __init__(
        self,
        net: StyleGAN,
        width: int,
        height: int,
        device: torch.device,
        truncation_psi: float = 0.7,
        start_seed: int | None = None,
        noise: str = "const",
    ) -> None:
        self.net = net
        with torch.no_grad():
            if start_seed is None:
                w = net.mapping.w_avg[None].repeat(net.num_ws, 1)[None]
            else:
                z = torch.randn(1, net.z_dim, generator=torch.Generator().manual_seed(start_seed)).to(device)
                w = net.mapping(z, truncation_psi)
        self.ws = w.clone().requires_grad_(True)
        self.noises: dict[str, torch.Tensor] = {}
        if noise == "optimize":
            layers = net.synthesis.noise_layers()
            if not layers:
                raise BadRequest("noise=optimize: this is a StyleGAN3, which has no noise inputs to optimize")
            self.noises = {name: layer.noise_const.clone().requires_grad_(True) for name, layer in layers.items()}

    def parameters(self) -> list[torch.Tensor]:
        return [self.ws, *self.noises.values()]

    def decode(self) -> torch.Tensor:
        picture = self.net.synthesis(self.ws, self.noises or None)
        return clamp_with_grad(picture.add(1).div(2))
