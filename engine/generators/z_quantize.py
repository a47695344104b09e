"""VQGAN+CLIP's two ways to steer the decoder: z+quantize (optimize a continuous latent and decode its
nearest codes) and codebook sampling (Crowson's second notebook: optimize logits over the codebook at
every position and pick codes with a straight-through Gumbel-softmax)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from contract.errors import BadRequest
from engine.generators.base import Generator, clamp_with_grad
from engine.networks.vqgan import VQGAN, nearest_codes, vector_quantize

LOGIT_START = 5.0  # how strongly a codebook run's start favours its first codes over the Gumbel noise


class VQGANGenerator(Generator):
    """z+quantize: straight-through quantization, ``z`` kept inside the codebook's bounding box; or, with
    ``sampling="codebook"``, a straight-through Gumbel-softmax choice of code at every position."""

    def __init__(
        self,
        net: VQGAN,
        width: int,
        height: int,
        device: torch.device,
        sampling: str = "z+quantize",
        codebook_temperature: float = 1.0,
    ) -> None:
        f = net.config.factor
        if width % f or height % f:
            raise BadRequest(f"this VQGAN makes sides that are multiples of {f}; {width}x{height} is not")
        self.net = net
        self.sampling, self.temperature = sampling, codebook_temperature
        codebook = net.codebook
        self.z_min = codebook.min(dim=0).values[None, :, None, None]
        self.z_max = codebook.max(dim=0).values[None, :, None, None]
        codes = torch.randint(codebook.shape[0], (height // f, width // f)).to(device)
        self.z = codebook[codes].movedim(2, 0)[None].clone().requires_grad_(True)
        if sampling == "codebook":
            # Logits favouring the same random codes, and a noise stream of its own, so that a picture in a
            # batch draws what it draws alone (z+quantize draws nothing more: its old pictures stay as they were).
            self.logits = self._favouring(codes[None]).requires_grad_(True)
            self.noise = torch.Generator(device).manual_seed(int(torch.randint(2**62, (1,))))

    def parameters(self) -> list[torch.Tensor]:
        return [self.logits] if self.sampling == "codebook" else [self.z]

    @torch.no_grad()
    def init_from_image(self, image: torch.Tensor) -> None:
        """Start from the latent the encoder gives ``image`` (for codebook sampling: its nearest codes)."""
        z = self.net.encode(image * 2 - 1)
        self.z.copy_(z)
        if self.sampling == "codebook":
            self.logits.copy_(self._favouring(nearest_codes(z.movedim(1, 3), self.net.codebook)))

    def _favouring(self, codes: torch.Tensor) -> torch.Tensor:
        """Logits ``[1, n_codes, h, w]`` that pick ``codes`` ``[1, h, w]`` over most of the Gumbel noise."""
        return F.one_hot(codes, self.net.codebook.shape[0]).movedim(3, 1).float() * LOGIT_START

    def quantized(self) -> torch.Tensor:
        if self.sampling == "codebook":
            uniform = torch.rand(self.logits.shape, generator=self.noise, device=self.logits.device).clamp_(1e-9, 1 - 1e-9)
            gumbel = -(-uniform.log()).log()
            soft = ((self.logits + gumbel) / self.temperature).softmax(dim=1)
            hard = F.one_hot(soft.argmax(dim=1), soft.shape[1]).movedim(3, 1).to(soft.dtype)
            choice = hard + soft - soft.detach()  # the picked code forward, the softmax's gradient backward
            return torch.einsum("bnhw,nc->bchw", choice, self.net.codebook.to(choice.dtype))
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
        if self.sampling == "z+quantize":
            self.z.copy_(torch.maximum(torch.minimum(self.z, self.z_max), self.z_min))
