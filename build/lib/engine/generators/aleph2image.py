"""Aleph2Image (Advadnoun, January 2021): DALL·E's discrete VAE steered by CLIP. The painter learns logits
over the dVAE's tokens at every position (32x32 of 8192 for 256x256) and decodes a straight-through
Gumbel-softmax choice of them."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from contract.errors import BadRequest
from engine.generators.base import Generator, clamp_with_grad
from engine.generators.gumbel import TokenChoice
from engine.networks.dvae import DVAE, FACTOR


class DVAEGenerator(Generator):
    def __init__(self, net: DVAE, width: int, height: int, device: torch.device, token_temperature: float = 1.0) -> None:
        if width % FACTOR or height % FACTOR:
            raise BadRequest(f"the dVAE makes sides that are multiples of {FACTOR}; {width}x{height} is not")
        self.net = net
        self.choice = TokenChoice(net.vocab_size, height // FACTOR, width // FACTOR, token_temperature, device)

    def parameters(self) -> list[torch.Tensor]:
        return [self.choice.logits]

    @torch.no_grad()
    def init_from_image(self, image: torch.Tensor) -> None:
        """Start from the tokens the dVAE's encoder reads in ``image``."""
        self.choice.logits.copy_(self.choice.favouring(self.net.encode(image).argmax(dim=1)))

    def decode(self) -> torch.Tensor:
        return self.decode_batch([self])

    @classmethod
    def decode_batch(cls, generators: Sequence[DVAEGenerator]) -> torch.Tensor:
        """One decoder pass for every picture (they share the network and the size)."""
        tokens = torch.cat([g.choice.one_hot() for g in generators])
        return clamp_with_grad(generators[0].net.decode(tokens))
