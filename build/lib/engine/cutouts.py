"""Random cutouts of the image, as CLIP sees them.

All ``cutn`` crops are resampled in one batched operation: each crop is a pair of separable
resampling matrices (rows and columns), so the whole batch is one ``einsum``; ``batched=False``
does the same arithmetic one crop at a time, as the notebooks loop, for the benchmark. The
matrices use a triangle filter widened by the downscale factor, i.e. antialiased bilinear, and
unlike ``grid_sample`` the backward pass is plain matrix products (deterministic on every device).
"""

from __future__ import annotations

import kornia.augmentation as K
import torch
from torch import nn


def resample_matrices(offsets: torch.Tensor, sizes: torch.Tensor, out: int, src: int) -> torch.Tensor:
    """``[n, out, src]`` rows mapping a source axis onto ``out`` samples of each crop ``[offset, offset+size)``."""
    scale = (sizes / out).clamp(min=1.0)
    centers = offsets[:, None] + (torch.arange(out, dtype=torch.float32) + 0.5) * (sizes / out)[:, None] - 0.5
    distance = (torch.arange(src, dtype=torch.float32)[None, None, :] - centers[:, :, None]).abs()
    weights = (1 - distance / scale[:, None, None]).clamp(min=0)
    return weights / weights.sum(dim=-1, keepdim=True)


def default_augmentations() -> nn.Module:
    """The augmentations the VQGAN+CLIP notebooks settled on: flip, affine, perspective, colour jitter."""
    return nn.Sequential(
        K.RandomHorizontalFlip(p=0.5),
        K.RandomAffine(degrees=15, translate=(0.1, 0.1), p=0.7, padding_mode="border"),
        K.RandomPerspective(0.7, p=0.7),
        K.ColorJitter(hue=0.1, saturation=0.1, p=0.7),
    )


class MakeCutouts(nn.Module):
    """``cutn`` crops with side ``min + (max - min) * u ** cut_pow``, augmented and noised."""

    def __init__(
        self,
        cut_size: int,
        cutn: int,
        cut_pow: float = 1.0,
        noise_fac: float = 0.1,
        augment: bool = True,
        batched: bool = True,
    ) -> None:
        super().__init__()
        self.cut_size, self.cutn, self.cut_pow, self.noise_fac, self.batched = cut_size, cutn, cut_pow, noise_fac, batched
        self.augs = default_augmentations() if augment else nn.Identity()

    def crops(self, height: int, width: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Row and column resampling matrices for a fresh random set of crops (drawn on the CPU)."""
        max_size = min(height, width)
        min_size = min(max_size, self.cut_size)
        sizes = (torch.rand(self.cutn) ** self.cut_pow * (max_size - min_size) + min_size).floor()
        ys = (torch.rand(self.cutn) * (height - sizes + 1)).floor()
        xs = (torch.rand(self.cutn) * (width - sizes + 1)).floor()
        rows = resample_matrices(ys, sizes, self.cut_size, height)
        cols = resample_matrices(xs, sizes, self.cut_size, width)
        return rows, cols

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        """``image`` ``[1, 3, H, W]`` to ``[cutn, 3, cut_size, cut_size]``."""
        _, _, height, width = image.shape
        rows, cols = (m.to(image.device, image.dtype, non_blocking=True) for m in self.crops(height, width))
        if self.batched:
            batch = torch.einsum("nyh,chw,nxw->ncyx", rows, image[0], cols)
        else:
            batch = torch.stack([torch.einsum("yh,chw,xw->cyx", r, image[0], c) for r, c in zip(rows, cols, strict=True)])
        # kornia's perspective warp leaves a few NaN pixels now and then, whatever the picture (a 30-step clipdraw
        # run at seed 3 draws one at step 11); one NaN cutout would turn every parameter into NaN. As zeros they
        # are the warp's own padding, and no gradient flows back through them.
        batch = self.augs(batch).nan_to_num(nan=0.0)
        if self.noise_fac:
            facs = torch.rand(self.cutn, 1, 1, 1).to(batch.device, batch.dtype, non_blocking=True) * self.noise_fac
            batch = batch + facs * torch.randn(batch.shape).to(batch.device, batch.dtype, non_blocking=True)
        return batch
