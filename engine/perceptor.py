"""CLIP as the judge of how well the picture matches the prompts (the network is read in ``engine/networks/clip.py``)."""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F

from engine.networks.clip import load_clip


class Perceptor:
    """Embeds text and images into CLIP's space, unit-normalized."""

    def __init__(self, model: torch.nn.Module, tokenizer, mean: tuple[float, ...], std: tuple[float, ...]) -> None:
        self.model = model.eval().requires_grad_(False)
        self.tokenizer = tokenizer
        size = model.visual.image_size
        self.input_size = size[0] if isinstance(size, (tuple, list)) else int(size)
        self.mean = torch.tensor(mean).view(1, 3, 1, 1)
        self.std = torch.tensor(std).view(1, 3, 1, 1)

    def to(self, device: torch.device) -> Perceptor:
        self.model.to(device)
        self.mean, self.std = self.mean.to(device), self.std.to(device)
        return self

    @torch.no_grad()
    def encode_text(self, texts: list[str]) -> torch.Tensor:
        tokens = self.tokenizer(texts).to(self.mean.device)
        return F.normalize(self.model.encode_text(tokens).float(), dim=-1)

    def encode_image(self, images: torch.Tensor) -> torch.Tensor:
        """``images`` in [0, 1] at ``input_size``; differentiable."""
        x = (images - self.mean) / self.std
        return F.normalize(self.model.encode_image(x).float(), dim=-1)


def load_perceptor(name: str, folder: Path) -> Perceptor:
    """Load a perceptor from its weights folder (``WeightStore.ensure`` made sure it is complete)."""
    return Perceptor(*load_clip(name, folder))
