"""Activation checkpointing: trade a second forward pass of a block for not keeping its activations."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch.utils.checkpoint import checkpoint


def segment(enabled: bool, function: Callable[..., torch.Tensor], *args) -> torch.Tensor:
    """``function(*args)``; when ``enabled``, its activations are recomputed in the backward pass instead of kept.

    The networks checkpointed here draw no random numbers, so the RNG state need not be replayed.
    """
    if enabled and torch.is_grad_enabled():
        return checkpoint(function, *args, use_reentrant=False, preserve_rng_state=False)
    return function(*args)
