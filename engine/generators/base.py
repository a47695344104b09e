"""What every painter offers the loop, with the defaults most of them share."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import ClassVar

import torch
import torch.nn.functional as F


class _ClampWithGrad(torch.autograd.Function):
    """Clamp whose gradient still flows where it pushes the value back into range."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, low: float, high: float) -> torch.Tensor:
        ctx.low, ctx.high = low, high
        ctx.save_for_backward(x)
        return x.clamp(low, high)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        (x,) = ctx.saved_tensors
        inward = grad * (grad * (x - x.clamp(ctx.low, ctx.high)) >= 0)
        return inward, None, None


def clamp_with_grad(x: torch.Tensor, low: float = 0.0, high: float = 1.0) -> torch.Tensor:
    return _ClampWithGrad.apply(x, low, high)


class Generator(ABC):
    """Owns the tensors being optimized and turns them into an RGB image ``[1, 3, H, W]`` in [0, 1].

    Subclasses take ``(network, width, height, device, **options)``, where ``network`` is the
    family's pretrained network (None for families without one) and the options are those of
    their family in ``contract.families``. Random initial values are drawn from the global torch
    generator on the CPU, so a seed gives the same start on every device.
    """

    prime_steps: ClassVar[int] = 100  # MSE steps of ``init_from_image`` when there is no encoder
    prime_lr: ClassVar[float] = 0.01
    checkpoint: bool = False  # set by the engine for large pictures: recompute activations in the backward pass

    @abstractmethod
    def parameters(self) -> list[torch.Tensor]: ...

    @abstractmethod
    def decode(self) -> torch.Tensor:
        """The picture the step is judged on, differentiable in ``parameters()``."""

    @classmethod
    def decode_batch(cls, generators: Sequence[Generator]) -> torch.Tensor:
        """Every generator's picture, ``[n, 3, H, W]``; painters that share a network override this to run it once."""
        if len(generators) == 1:
            return generators[0].decode()
        return torch.cat([g.decode() for g in generators])

    def penalty(self) -> torch.Tensor | None:
        """A regularizer added to the loss (None: nothing to add)."""
        return None

    def after_step(self) -> None:
        """Called without grad after every optimizer step: clamp, average, ..."""
        return None

    def vector(self) -> str | None:
        """The picture as an SVG document, for painters that draw shapes (None: a raster painter)."""
        return None

    @torch.no_grad()
    def image(self) -> torch.Tensor:
        """The picture to show and save."""
        return self.decode()

    def hold(self, keep: torch.Tensor) -> None:
        """Keep what paints only inside ``keep`` (``[1, 1, H, W]``, 1: kept) as it is from now on. Most painters'
        parameters each paint the whole picture, so this does nothing: the loop's pull and paste keep the region."""
        return None

    @torch.no_grad()
    def set_parameters(self, values: Sequence[torch.Tensor]) -> None:
        """``values`` in place of the parameters (a morph's point on its path); painters that keep state beside
        them (an average) start it again."""
        for parameter, value in zip(self.parameters(), values, strict=True):
            parameter.copy_(value)

    def init_from_image(self, image: torch.Tensor) -> None:
        """Start from ``image`` by fitting the parameters to it; painters with an encoder override this."""
        optimizer = torch.optim.Adam(self.parameters(), lr=self.prime_lr)
        for _ in range(self.prime_steps):
            optimizer.zero_grad(set_to_none=True)
            F.mse_loss(self.decode(), image).backward()
            optimizer.step()
