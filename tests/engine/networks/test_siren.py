"""SIREN's coordinate grid and network: square pixels, a quiet start, and checkpointing that changes nothing."""

import torch

from engine.networks.siren import Siren, pixel_grid


def test_the_grid_spans_the_longer_side_and_keeps_pixels_square():
    grid = pixel_grid(4, 2)
    assert grid.shape == (8, 2)
    assert torch.allclose(grid[:4, 0], torch.tensor([-0.75, -0.25, 0.25, 0.75]))  # x across the first row
    assert torch.allclose(grid[::4, 1], torch.tensor([-0.25, 0.25]))  # y down: the same step as x
    assert torch.allclose(grid.mean(0), torch.zeros(2))


def test_a_fresh_network_starts_near_grey_and_checkpointing_gives_the_same_gradients():
    torch.manual_seed(0)
    net = Siren(layers=4, width=32, w0=30.0)
    coords = pixel_grid(16, 16)
    out = net(coords)
    assert out.shape == (256, 3) and out.abs().max() < 0.5  # no pixel starts clipped
    grads = []
    for checkpoint in (False, True):
        net.zero_grad()
        net(coords, checkpoint=checkpoint).square().sum().backward()
        grads.append(torch.cat([p.grad.flatten() for p in net.parameters()]))
    assert torch.allclose(grads[0], grads[1], atol=1e-6)
