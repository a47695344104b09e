"""Activation checkpointing trades a second forward pass for memory; the results must not change."""

import torch

from engine.networks.recompute import segment


def test_a_checkpointed_segment_runs_its_forward_again_in_the_backward_pass_with_the_same_gradient():
    calls = []

    def block(x: torch.Tensor) -> torch.Tensor:
        calls.append(1)
        return torch.tanh(x * 3)

    x = torch.linspace(-1, 1, 7, requires_grad=True)
    segment(False, block, x).sum().backward()
    plain, plain_calls = x.grad.clone(), len(calls)
    x.grad = None
    segment(True, block, x).sum().backward()
    assert torch.equal(x.grad, plain)
    assert (plain_calls, len(calls) - plain_calls) == (1, 2)  # recomputed once in the backward pass
    with torch.no_grad():
        segment(True, block, x)
    assert len(calls) == 4  # without gradients there is nothing to recompute for
