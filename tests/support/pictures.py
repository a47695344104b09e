"""Comparing rendered pictures in tests."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image


def pixels(png: bytes) -> bytes:
    """The decoded pixels of a PNG: equal for equal pictures, whatever the metadata (the time taken) says."""
    return Image.open(io.BytesIO(png)).tobytes()


def noise_image(path: Path, size: int) -> None:
    """A square of seeded colour noise, saved at ``path``."""
    rng = np.random.default_rng(1)
    Image.fromarray(rng.integers(0, 255, (size, size, 3), dtype=np.uint8)).resize((size, size)).save(path)
