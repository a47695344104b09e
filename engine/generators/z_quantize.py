"""VQGAN+CLIP's two ways to steer the decoder: z+quantize (optimize a continuous latent and decode its
nearest codes) and codebook sampling (Crowson's second notebook: optimize logits over the codebook at
every position and pick codes with a straight-through Gumbel-softmax)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from contract.errors import BadRequest
from engine.generators.base import Generator, clamp_with_grad
from engine.generators.gumbel import TokenChoice
from engine.networks.vqgan import VQGAN, nearest_codes, vector_quantize


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
        self.sampling = sampling
        codebook = net.codebook
        self.z_min = codebook.min(dim=0).values[None, :, None, None]
        self.z_max = codebook.max(dim=0).values[None, :, None, None]
        if sampling == "codebook":
            # The same random start codes as z+quantize, and the logits favouring them.
            self.choice = TokenChoice(codebook.shape[0], height // f, width // f, codebook_temperature, device)
            codes = self.choice.start[0].to(device)
        else:
            codes = torch.randint(codebook.shape[0], (height // f, width // f)).to(device)
        self.z = codebook[codes].movedim(2, 0)[None].clone().requires_grad_(True)
        self._held: tuple[torch.Tensor, torch.Tensor] | None = None  # tokens kept as they are, and their values

    def parameters(self) -> list[torch.Tensor]:
        return [self.choice.logits] if self.sampling == "codebook" else [self.z]

    def hold(self, keep: torch.Tensor) -> None:
        """Pan and Zoom Out: the tokens wholly inside the kept box stay as the start gave them (the old picture's
        codes), and only the new ones are optimized, as the 2021 notebooks extended VQGAN's token grid."""
        f = self.net.config.factor
        inside = -F.max_pool2d(-keep.float(), f) > 0.5  # [1, 1, h, w]: every pixel of the token is kept
        (parameter,) = self.parameters()
        self._held = (inside, parameter.detach().clone())
        parameter.register_hook(lambda grad: grad.masked_fill(inside, 0.0))

    @torch.no_grad()
    def init_from_image(self, image: torch.Tensor) -> None:
        """Start from the latent the encoder gives ``image`` (for codebook sampling: its nearest codes)."""
        z = self.net.encode(image * 2 - 1)
        self.z.copy_(z)
        if self.sampling == "codebook":
            self.choice.logits.copy_(self.choice.favouring(nearest_codes(z.movedim(1, 3), self.net.codebook)))

    def quantized(self) -> torch.Tensor:
        if self.sampling == "codebook":
            choice = self.choice.one_hot()
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
        if self._held is not None:  # whatever the optimizer does beside the gradient (weight decay, momentum)
            inside, values = self._held
            (parameter,) = self.parameters()
            parameter.copy_(torch.where(inside, values, parameter))
