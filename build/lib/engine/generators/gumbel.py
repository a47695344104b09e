"""A choice of one token per position, learnt through a straight-through Gumbel-softmax: how VQGAN's
codebook sampling and Aleph2Image (DALL·E's dVAE) steer a discrete decoder."""

from __future__ import annotations

import torch
import torch.nn.functional as F

LOGIT_START = 5.0  # how strongly a run's start favours its first tokens over the Gumbel noise


class TokenChoice:
    """Logits ``[1, n, h, w]`` over ``n`` tokens at each of ``h x w`` positions, started on random tokens.

    The Gumbel noise has a stream of its own, seeded from the global one, so that a picture in a batch
    draws exactly what it draws alone.
    """

    def __init__(self, n: int, height: int, width: int, temperature: float, device: torch.device) -> None:
        self.n, self.temperature = n, temperature
        self.start = torch.randint(n, (1, height, width))
        self.logits = self.favouring(self.start.to(device)).requires_grad_(True)
        self.noise = torch.Generator(device).manual_seed(int(torch.randint(2**62, (1,))))

    def favouring(self, tokens: torch.Tensor) -> torch.Tensor:
        """Logits that pick ``tokens`` ``[1, h, w]`` over most of the Gumbel noise."""
        return F.one_hot(tokens, self.n).movedim(3, 1).float() * LOGIT_START

    def one_hot(self) -> torch.Tensor:
        """``[1, n, h, w]``: the tokens drawn, one-hot forward, with the softmax's gradient backward."""
        uniform = torch.rand(self.logits.shape, generator=self.noise, device=self.logits.device).clamp_(1e-9, 1 - 1e-9)
        gumbel = -(-uniform.log()).log()
        soft = ((self.logits + gumbel) / self.temperature).softmax(dim=1)
        hard = F.one_hot(soft.argmax(dim=1), self.n).movedim(3, 1).to(soft.dtype)
        return hard + soft - soft.detach()
