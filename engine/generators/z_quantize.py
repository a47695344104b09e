"""VQGAN+CLIP's z+quantize: optimize a continuous latent and decode its nearest codes."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from contract.errors import BadRequest
from engine.generators.base import Generator, clamp_with_grad
from engine.networks.vqgan import VQGAN, vector_quantize


class VQGANGenerator(Generator):
    """Straight-through quantization; ``z`` stays inside the codebook's bounding box."""

    def __init__(self, net: VQGAN, width: int, height: int, device: torch.device) -> None:
        f = net.config.factor
        if width % f or height % f:
            raise BadRequest(f"this VQGAN makes sides that are multiples of {f}; {width}x{height} is not")
        self.net = net
        codebook = net.codebook
        self.z_min = codebook.min(dim=0).values[None, :, None, None]
        self.z_max = codebook.max(dim=0).values[None, :, None, None]
        codes = torch.randint(codebook.shape[0], (height // f, width // f)).to(device)
        self.z = codebook[codes].movedim(2, 0)[None].clone().requires_grad_(True)

    def parameters(self) -> list[torch.Tensor]:
        return [self.z]

    @torch.no_grad()
    def init_from_image(self, image: torch.Tensor) -> None:
        """Start from the latent the encoder gives ``image``."""
        self.z.copy_(self.net.encode(image * 2 - 1))

    def quantized(self) -> torch.Tensor:
        return vector_quantize(self.z.movedim(1, 3), self.net.codebook).movedim(3, 1)

    def decode(self) -> torch.Tensor:
        return self.decode_batch([self])

    @classmethod
    def decode_batch(cls, generators: Sequence[VQGANGenerator]) -> torch.Tensor:
        """One decoder pass for every latent (they share the network and the size)."""
        first = generators[0]
        z_q = torch.cat([g.quantized() for g in generators]) if len(generators) > 1 else first.quantized()
        return clamp_with_grad(first.net.decode(z_q, checkpoint=first.checkpoint).add(1).div(2))

    @torch.no_grad()
    def after_step(self) -> None:
        self.z.copy_(torch.maximum(torch.minimum(self.z, self.z_max), self.z_min))
