"""Requests for the painters at their tiny smoke-test settings."""

from __future__ import annotations

import torch

from contract.protocol import RenderRequest

CPU = torch.device("cpu")
SMALL_SIREN = {"layers": 4, "hidden_width": 64}
# Each painter at its tiny smoke-test settings: (model, size, options).
CODEBOOK = {"sampling": "codebook"}
PAINTERS = [
    ("tiny-biggan", 64, {}),
    ("siren", 64, SMALL_SIREN),
    ("pixels", 64, {}),
    ("tiny-vqgan", 64, CODEBOOK),
    ("tiny-dvae", 64, {}),
    ("clipdraw", 64, {}),
    ("tiny-stylegan2", 64, {}),
    ("tiny-stylegan3", 64, {}),
]


def request(model: str, size: int, options: dict, **overrides) -> RenderRequest:
    values = dict(prompt="the grand canyon in 3d", model=model, perceptor="tiny-clip", width=size, height=size, steps=5, seed=3)
    return RenderRequest(**{**values, "options": options, **overrides})
