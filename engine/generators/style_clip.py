"""StyleGAN+CLIP (StyleCLIP's latent optimization, 2021): CLIP steers a pretrained StyleGAN through W+.

W+ is one w per synthesis layer. The run starts from the mapping network's average w, or from the w of
``start_seed`` pulled towards the average by ``truncation_psi``, and each layer's w moves on its own.
The noise maps stay the recorded constants unless ``noise="optimize"`` makes them parameters too.
"""

from __future__ import annotations

import torch

from engine.generators.base import Generator, clamp_with_grad
from engine.networks.stylegan2 import Generator as StyleGAN


class StyleGANGenerator(Generator):
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
            self.noises = {name: layer.noise_const.clone().requires_grad_(True) for name, layer in layers.items()}

    def parameters(self) -> list[torch.Tensor]:
        return [self.ws, *self.noises.values()]

    def decode(self) -> torch.Tensor:
        picture = self.net.synthesis(self.ws, self.noises or None)
        return clamp_with_grad(picture.add(1).div(2))
