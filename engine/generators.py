"""Painters: each owns the tensors being optimized and turns them into an RGB image in [0, 1]."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from engine.errors import BadRequest
from engine.vqgan import VQGAN, vector_quantize


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


class VQGANGenerator:
    """z+quantize: optimize a continuous latent, decode its nearest codes (straight-through)."""

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
        """Start from the latent of ``image`` (``[1, 3, H, W]`` in [0, 1])."""
        self.z.copy_(self.net.encode(image * 2 - 1))

    def decode(self) -> torch.Tensor:
        z_q = vector_quantize(self.z.movedim(1, 3), self.net.codebook).movedim(3, 1)
        return clamp_with_grad(self.net.decode(z_q).add(1).div(2))

    @torch.no_grad()
    def clamp_(self) -> None:
        self.z.copy_(torch.maximum(torch.minimum(self.z, self.z_max), self.z_min))


def resize_image(image: torch.Tensor, width: int, height: int) -> torch.Tensor:
    """Resize ``[1, 3, h, w]`` to cover ``width``x``height`` and centre-crop (antialiased)."""
    _, _, h, w = image.shape
    scale = max(width / w, height / h)
    size = (max(height, round(h * scale)), max(width, round(w * scale)))
    image = F.interpolate(image, size=size, mode="bicubic", antialias=True, align_corners=False).clamp(0, 1)
    top, left = (size[0] - height) // 2, (size[1] - width) // 2
    return image[:, :, top : top + height, left : left + width]
