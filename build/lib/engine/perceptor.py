"""CLIP as the judge of how well the picture matches the prompts (the network is read in ``engine/networks/clip.py``),
alone or as an ensemble of several (pixray's trick): ``ViT-B-32/openai+ViT-B-16/openai``."""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F

from engine.networks.clip import load_clip


class Perceptor:
    """Embeds text and images into CLIP's space, unit-normalized.

    ``parts`` are the widths of the unit vectors an embedding is made of: one for a single CLIP, one
    per member for an ensemble; the loop measures distances part by part and averages them.
    """

    def __init__(self, model: torch.nn.Module, tokenizer, mean: tuple[float, ...], std: tuple[float, ...]) -> None:
        self.model = model.eval().requires_grad_(False)
        self.tokenizer = tokenizer
        size = model.visual.image_size
        self.input_size = size[0] if isinstance(size, (tuple, list)) else int(size)
        self.mean = torch.tensor(mean).view(1, 3, 1, 1)
        self.std = torch.tensor(std).view(1, 3, 1, 1)
        self.parts: tuple[int, ...] = (model.visual.output_dim,)

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


class Ensemble:
    """Several perceptors judging together: each sees the cutouts at its own input size, normalized its own
    way, and its embeddings fill their own parts of the concatenated vector, so each member's distance
    counts equally however wide its embeddings are."""

    def __init__(self, members: list[Perceptor]) -> None:
        self.members = members
        self.input_size = max(m.input_size for m in members)
        self.parts = tuple(part for m in members for part in m.parts)

    def to(self, device: torch.device) -> Ensemble:
        for member in self.members:
            member.to(device)
        return self

    def encode_text(self, texts: list[str]) -> torch.Tensor:
        return torch.cat([m.encode_text(texts) for m in self.members], dim=-1)

    def encode_image(self, images: torch.Tensor) -> torch.Tensor:
        """``images`` in [0, 1] at ``input_size`` (the largest member's), resized for the smaller ones."""
        return torch.cat([m.encode_image(_resized(images, m.input_size)) for m in self.members], dim=-1)


AnyPerceptor = Perceptor | Ensemble


def _resized(images: torch.Tensor, size: int) -> torch.Tensor:
    if images.shape[-1] == size and images.shape[-2] == size:
        return images
    return F.interpolate(images, size=(size, size), mode="bilinear", antialias=True, align_corners=False)


def unit_parts(x: torch.Tensor, parts: tuple[int, ...]) -> torch.Tensor:
    """``x`` with each of its ``parts`` scaled to unit length (an embedding as a perceptor would give it)."""
    return torch.cat([F.normalize(part, dim=-1) for part in x.split(parts, dim=-1)], dim=-1)


def load_perceptor(name: str, folder: Path) -> Perceptor:
    """Load a perceptor from its weights folder (``WeightStore.ensure`` made sure it is complete)."""
    return Perceptor(*load_clip(name, folder))
