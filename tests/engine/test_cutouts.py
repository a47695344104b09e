"""Cutouts: what CLIP sees of the picture."""

from __future__ import annotations

import torch
from torch import nn

from engine.cutouts import MakeCutouts


class LeavesNaN(nn.Module):
    """An augmentation that leaves a few NaN pixels, as kornia's perspective warp now and then does."""

    def forward(self, batch: torch.Tensor) -> torch.Tensor:
        holes = torch.zeros_like(batch)
        holes[3, :, 5, 7] = float("nan")
        return batch + holes


def test_nan_pixels_left_by_an_augmentation_reach_neither_clip_nor_the_gradient():
    torch.manual_seed(0)
    cutouts = MakeCutouts(16, 8)
    cutouts.augs = nn.Sequential(cutouts.augs, LeavesNaN())
    picture = torch.rand(1, 3, 32, 32, requires_grad=True)
    batch = cutouts(picture)
    assert torch.isfinite(batch).all()
    batch.square().sum().backward()
    assert torch.isfinite(picture.grad).all() and picture.grad.abs().sum() > 0
