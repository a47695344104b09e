"""Pan and Zoom Out on VQGAN: the tokens wholly inside the kept box keep the old picture's codes, whatever the
optimizer does (weight decay included), and only the new tokens move; a token that is partly new moves."""

from __future__ import annotations

import pytest
import torch

from engine.generators.z_quantize import VQGANGenerator


@pytest.mark.parametrize("sampling", ["z+quantize", "codebook"])
def test_the_kept_tokens_stay_and_the_new_ones_move(engine, sampling):
    net = engine.network("tiny-vqgan")
    f = net.config.factor
    generator = VQGANGenerator(net, 8 * f, 4 * f, engine.device, sampling=sampling)
    torch.manual_seed(0)
    generator.init_from_image(torch.rand(1, 3, 4 * f, 8 * f))
    keep = torch.zeros(1, 1, 4 * f, 8 * f)
    keep[..., : 3 * f + f // 2] = 1  # three tokens across wholly kept, the fourth half
    generator.hold(keep)
    (parameter,) = generator.parameters()
    before = parameter.detach().clone()
    optimizer = torch.optim.AdamW(generator.parameters(), lr=0.1, weight_decay=0.5)
    for _ in range(3):
        optimizer.zero_grad()
        generator.decode().square().mean().backward()
        optimizer.step()
        generator.after_step()
    assert torch.equal(parameter[..., :3], before[..., :3]), "the kept tokens, exactly"
    moved = (parameter[..., 3:] != before[..., 3:]).flatten(2).any(dim=1)
    assert moved.all(), "every new or partly new token moved"
