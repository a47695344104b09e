"""What the engine writes: frames at preview size, a bounded reel of them, an animation within the upload limit."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from engine import output


def noise(width: int, height: int, seed: int = 0) -> Image.Image:
    return Image.fromarray(np.random.default_rng(seed).integers(0, 255, (height, width, 3), dtype=np.uint8))


def test_frames_are_preview_size():
    assert output.small(noise(2048, 1024)).size == (512, 256)
    small = noise(300, 200)
    assert output.small(small) is small


def test_a_reel_of_any_length_keeps_at_most_its_limit_from_start_to_end():
    reel = output.Reel(limit=100)
    frames = [Image.new("RGB", (4, 4), (i % 256, i // 256, 0)) for i in range(1000)]
    for frame in frames:
        reel.add(frame)
    kept = [frames.index(frame) for frame in reel.frames]
    assert 50 <= len(kept) <= 100 and kept[0] == 0 and kept[-1] >= 900
    assert kept == sorted(kept) and len(set(np.diff(kept))) == 1, "evenly spaced"


def test_an_animation_fits_the_upload_limit():
    frames = [noise(128, 128, seed) for seed in range(16)]
    whole = len(output.gif_bytes(frames, limit=10**9))
    limit = whole // 5
    gif = output.gif_bytes(frames, limit=limit)
    assert len(gif) <= limit
    animation = Image.open(io.BytesIO(gif))
    assert animation.format == "GIF" and animation.n_frames >= 2
