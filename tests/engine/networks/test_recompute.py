"""Activation checkpointing recomputes exactly what the plain forward keeps: same picture, same gradients."""

from __future__ import annotations

import pytest
import torch

from contract import registry
from contract.families import load_attribute

NETWORKS = [("tiny-vqgan", {}), ("tiny-biggan", {}), ("siren", {"layers": 4, "hidden_width": 64})]


@pytest.mark.parametrize(("model", "options"), NETWORKS)
def test_checkpointed_network_gives_the_same_picture_and_gradient(engine, model, options):
    net = engine.network(model)
    torch.manual_seed(0)
    painter = load_attribute(registry.family_of(registry.lookup(model)).painter)
    generator = painter(net, 64, 64, torch.device("cpu"), **options)
    pictures, grads = [], []
    for checkpoint in (False, True):
        generator.checkpoint = checkpoint
        picture = generator.decode()
        picture.square().mean().backward()
        pictures.append(picture.detach())
        grads.append([p.grad.clone() for p in generator.parameters()])
        for p in generator.parameters():
            p.grad = None
    torch.testing.assert_close(pictures[0], pictures[1])
    for plain, recomputed in zip(*grads, strict=True):
        torch.testing.assert_close(plain, recomputed)
