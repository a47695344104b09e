"""Networks whose shapes come from a file (a ``model.yaml``, a ``config.json``, a pickle's recorded
arguments) are first built on the meta device, where nothing is allocated: a file that describes more
than its weights file could hold (a crafted config asking for 10^10 codes) is refused before any
memory is spent on it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

BYTES_PER_VALUE = 2  # fp16: no official weights file stores a value in less
SLACK = 64 * 2**20  # bytes of buffers a weights file need not store (attention masks, filters)


def size_of(build: Callable[[], nn.Module]) -> int:
    """Values (parameters and buffers) of the network ``build`` makes, counted on the meta device."""
    with torch.device("meta"):
        shell = build()
    return sum(t.numel() for t in (*shell.parameters(), *shell.buffers()))


def check_within(build: Callable[[], nn.Module], weights: Path) -> None:
    """Raise ``ValueError`` when the network ``build`` makes needs more bytes than ``weights`` holds."""
    values = size_of(build)
    held = weights.stat().st_size
    if values * BYTES_PER_VALUE > held + SLACK:
        raise ValueError(
            f"its shapes describe {values:,} values ({values * BYTES_PER_VALUE / 2**20:,.0f} MiB at the least), "
            f"more than {weights.name} ({held / 2**20:,.1f} MiB) holds"
        )
