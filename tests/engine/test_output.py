"""What the engine writes: frames at preview size, a bounded reel of them, an animation within the upload limit."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from contract.protocol import RenderRequest
from contract.validation import validate
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


def test_the_parameters_line_holds_everything_that_decides_the_picture(tmp_path):
    init = tmp_path / "start.png"
    Image.new("RGB", (8, 8)).save(init)
    request = RenderRequest(
        "a castle, at dusk | fog:0.5",
        model="tiny-biggan",
        perceptor="tiny-clip",
        width=64,
        height=64,
        steps=42,
        seed=7,
        cutn=16,
        cut_pow=0.8,
        lr=0.02,
        optimizer="adamw",
        init_image=str(init),
        init_weight=0.25,
        noise_prompts=("3:0.5",),
        options={"truncation": 0.5, "max_classes": 3},
    )
    text = output.parameters_text(validate(request), 12.34, "1.2.3")
    prompt, line = text.split("\n")
    assert prompt == "a castle, at dusk | fog:0.5"
    for part in (
        "Steps: 42", "Seed: 7", "Size: 64x64", "Model: tiny-biggan", "Perceptor: tiny-clip", "Cutn: 16",
        "Cut pow: 0.8", "Optimizer: adamw", "LR: 0.02", "Truncation: 0.5", "Max classes: 3", "Class temperature: 2.0",
        "Init image: start.png", "Init weight: 0.25", 'Noise prompts: "3:0.5"', "Time: 12.3s", "Version: dreambot 1.2.3",
    ):  # fmt: skip
        assert part in line, part
    assert str(tmp_path) not in text, "the init image's name, not where it lives"
