"""A result over the server's upload limit is posted as a JPEG that fits, its parameters kept."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, PngImagePlugin

from bot.display.uploads import fit


def png(side: int) -> bytes:
    info = PngImagePlugin.PngInfo()
    info.add_text("parameters", "a castle\nSteps: 300, Seed: 7")
    out = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (side, side, 3), dtype=np.uint8)).save(out, "PNG", pnginfo=info)
    return out.getvalue()


def test_a_png_that_fits_is_posted_as_it_is():
    data = png(64)
    assert fit(data, 10 * 2**20) == (data, "png")


def test_a_png_over_the_limit_becomes_a_jpeg_that_fits():
    data = png(1024)
    limit = len(data) // 4
    jpeg, extension = fit(data, limit)
    assert extension == "jpg" and len(jpeg) <= limit
    with Image.open(io.BytesIO(jpeg)) as image:
        assert image.format == "JPEG" and image.size == (1024, 1024)
        assert image.info["comment"] == b"a castle\nSteps: 300, Seed: 7"
    tiny, _ = fit(data, 20_000)  # even JPEG at the lowest quality is too large: the picture shrinks
    assert len(tiny) <= 20_000
