"""Sets of candidates (count), variations' noisy start, and upscale jobs, in the engine."""

from __future__ import annotations

import dataclasses
import io

import numpy as np
import pytest
from PIL import Image

from contract import parameters
from contract.errors import BadRequest
from contract.protocol import Progress, RenderRequest
from contract.validation import validate, validate_upscale
from engine import output
from engine.sets import GAP, cell, grid, render_set
from engine.upscale import upscale_request
from tests.support.pictures import noise_image, pixels

SET = RenderRequest("a lighthouse", model="tiny-vqgan", perceptor="tiny-clip", width=32, height=24, steps=6, seed=40, count=4)


def image(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), dtype=np.int16)


def test_a_set_paints_each_seed_as_a_single_render_would_and_posts_them_as_one_grid(engine):
    events: list[Progress] = []
    done = render_set(engine, SET, events.append)
    singles = [engine.render(dataclasses.replace(SET, seed=SET.seed + n, count=1)) for n in range(4)]
    assert len(done.candidates) == 4
    for number, (candidate, single) in enumerate(zip(done.candidates, singles, strict=True)):
        # a batch reorders float sums only: at most one level of 255 apart, and most pixels equal
        gap = np.abs(image(candidate) - image(single.png))
        assert gap.max() <= 1 and (gap == 0).mean() > 0.99
        assert parameters.read(Image.open(io.BytesIO(candidate)).text["parameters"])["seed"] == SET.seed + number
        assert pixels(output.png_bytes(cell(done.image, number, 4), "")) == Image.open(io.BytesIO(candidate)).tobytes()
    assert len({pixels(c) for c in done.candidates}) == 4  # four seeds, four pictures
    assert done.image.size == (2 * 32 + GAP, 2 * 24 + GAP)
    recorded = parameters.read(Image.open(io.BytesIO(done.png)).text["parameters"])
    assert recorded["count"] == 4 and recorded["seed"] == SET.seed  # the grid reproduces the set
    assert [e.step for e in events] == list(range(1, 7))  # one stream, one event per step
    previews = [Image.open(io.BytesIO(e.preview)) for e in events if e.preview is not None]
    assert previews and all(p.size == done.image.size for p in previews)


def test_grids_read_left_to_right_then_down():
    colours = [(255, 0, 0), (0, 255, 0), (0, 0, 255)]
    sheet = grid([Image.new("RGB", (8, 6), colour) for colour in colours])
    assert sheet.size == (2 * 8 + GAP, 2 * 6 + GAP)
    assert [cell(sheet, n, 3).getpixel((4, 3)) for n in range(3)] == colours
    assert grid([Image.new("RGB", (8, 6))] * 2).size == (2 * 8 + GAP, 6)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"count": 5}, "count must be between 1 and 4, not 5"),
        ({"count": 0}, "count must be between 1 and 4, not 0"),
        ({"count": 2, "zoom_frames": 3}, "not painted as several candidates"),
        ({"init_noise": 0.5}, "give one"),
    ],
)
def test_sets_and_noisy_starts_are_refused_out_of_range(changes, message):
    with pytest.raises(BadRequest, match=message):
        validate(dataclasses.replace(SET, **changes))


def test_a_variation_starts_from_its_parent_with_its_own_seeds_noise(engine, tmp_path):
    parent = tmp_path / "parent.png"
    noise_image(parent, 32)
    base = dataclasses.replace(SET, count=1, width=32, height=32, steps=1, init_image=str(parent), init_weight=0.5)
    with pytest.raises(BadRequest, match="init_noise must be between 0 and 1"):
        validate(dataclasses.replace(base, init_noise=1.5))
    clean = image(engine.render(base).png)
    near = image(engine.render(dataclasses.replace(base, init_noise=0.1)).png)
    far = image(engine.render(dataclasses.replace(base, init_noise=0.9)).png)
    other_seed = image(engine.render(dataclasses.replace(base, init_noise=0.1, seed=41)).png)
    gap = lambda a, b: float(np.abs(a - b).mean())  # noqa: E731
    assert gap(clean, near) < gap(clean, far)  # the strength is how far it may wander
    assert gap(near, other_seed) > 0  # each seed its own noise


def test_an_upscale_job_makes_its_picture_four_times_larger_keeping_its_parameters(engine, tmp_path):
    picture = tmp_path / "result.png"
    recorded = "a castle\nSteps: 30, Seed: 7, Size: 16x12, Model: tiny-vqgan, Version: dreambot 0.1.0"
    picture.write_bytes(output.png_bytes(Image.effect_noise((16, 12), 60).convert("RGB"), recorded))
    job = RenderRequest("a castle", model="tiny-esrgan", width=16, height=12, steps=1, init_image=str(picture))
    png, seconds = upscale_request(engine, job)
    upscaled = Image.open(io.BytesIO(png))
    assert upscaled.size == (64, 48) and seconds > 0
    assert upscaled.text["parameters"] == f"{recorded}, Upscale: tiny-esrgan 4x"
    with pytest.raises(BadRequest, match="needs the picture"):
        validate_upscale(dataclasses.replace(job, init_image=None))
    with pytest.raises(BadRequest, match="unknown upscaler"):
        validate_upscale(dataclasses.replace(job, model="tiny-vqgan"))
