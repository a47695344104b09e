"""The straight-through Gumbel choice: one token per position forward, the softmax's gradient backward, and
a noise stream of its own so a picture draws the same alone and in a batch."""

import torch

from engine.generators.gumbel import TokenChoice


def choice(seed: int, temperature: float = 1.0) -> TokenChoice:
    torch.manual_seed(seed)
    return TokenChoice(16, 3, 4, temperature, torch.device("cpu"))


def test_each_position_picks_one_token_and_the_start_is_favoured():
    tokens = choice(0)
    hot = tokens.one_hot()
    assert hot.shape == (1, 16, 3, 4)
    picked = hot.detach()
    assert torch.allclose(picked.sum(1), torch.ones(1, 3, 4))
    assert torch.allclose(picked, picked.round(), atol=1e-6)  # one-hot forward (up to rounding)
    agree = (hot.detach().argmax(1) == tokens.start).float().mean()
    assert agree > 0.8  # LOGIT_START outweighs most of the Gumbel noise


def test_the_gradient_reaches_the_logits_through_the_softmax():
    tokens = choice(1)
    (tokens.one_hot() * torch.randn(1, 16, 3, 4)).sum().backward()
    assert tokens.logits.grad is not None and tokens.logits.grad.abs().sum() > 0


def test_the_noise_is_its_own_stream():
    a, b = choice(2), choice(2)
    torch.rand(1000)  # other draws from the global stream between the two pictures' steps
    assert torch.equal(a.one_hot(), b.one_hot())
    assert not torch.equal(choice(2).one_hot(), choice(3).one_hot())
