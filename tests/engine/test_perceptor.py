"""CLIP as the judge: unit-normalized embeddings, and an ensemble whose members each fill their own part at
their own input size."""

from __future__ import annotations

from types import SimpleNamespace

import torch
from torch import nn

from engine.perceptor import Ensemble, Perceptor, unit_parts


class FakeClip(nn.Module):
    """A CLIP-shaped module: what Perceptor reads of it, and inputs it remembers."""

    def __init__(self, size: int, dim: int) -> None:
        super().__init__()
        self.visual = SimpleNamespace(image_size=(size, size), output_dim=dim)
        self.project = nn.Linear(3, dim)
        self.seen: list[torch.Tensor] = []

    def encode_text(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.project(tokens.float()) * 7

    def encode_image(self, x: torch.Tensor) -> torch.Tensor:
        self.seen.append(x)
        return self.project(x.mean((2, 3))) * 5


def perceptor(size: int, dim: int, mean: float = 0.5, std: float = 0.25) -> Perceptor:
    torch.manual_seed(size + dim)
    tokenizer = lambda texts: torch.tensor([[len(t), t.count(" "), 1] for t in texts])  # noqa: E731
    return Perceptor(FakeClip(size, dim), tokenizer, (mean,) * 3, (std,) * 3)


def test_embeddings_are_unit_vectors_and_images_are_normalized_its_way():
    judge = perceptor(16, 8)
    text = judge.encode_text(["a cat", "a fairy house"])
    assert text.shape == (2, 8) and torch.allclose(text.norm(dim=-1), torch.ones(2))
    image = torch.full((1, 3, 16, 16), 0.75)
    assert torch.allclose(judge.encode_image(image).norm(dim=-1), torch.ones(1))
    assert torch.allclose(judge.model.seen[-1], torch.ones(1, 3, 16, 16))  # (0.75 - 0.5) / 0.25
    assert not any(p.requires_grad for p in judge.model.parameters())


def test_an_ensemble_gives_each_member_its_part_and_its_size():
    small, large = perceptor(8, 4), perceptor(16, 6)
    both = Ensemble([small, large])
    assert (both.input_size, both.parts) == (16, (4, 6))
    embedding = both.encode_image(torch.rand(2, 3, 16, 16))
    assert embedding.shape == (2, 10)
    assert small.model.seen[-1].shape[-1] == 8 and large.model.seen[-1].shape[-1] == 16
    parts = embedding.split((4, 6), dim=-1)
    assert all(torch.allclose(part.norm(dim=-1), torch.ones(2)) for part in parts)  # each member counts equally
    assert torch.allclose(both.encode_text(["a cat"])[:, :4], small.encode_text(["a cat"]))


def test_unit_parts_scales_each_part_alone():
    x = torch.tensor([[3.0, 4.0, 0.0, 0.0, 2.0]])
    assert torch.allclose(unit_parts(x, (2, 3)), torch.tensor([[0.6, 0.8, 0.0, 0.0, 1.0]]))
