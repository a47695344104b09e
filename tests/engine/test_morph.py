"""A morph film: its first and last frames are its two pictures (within a measured bound), the frames between lie
on the path from one to the other, and every step is reported."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from contract.protocol import RenderRequest
from engine.morph import between

SIZE = 32


def gradient(path, left: tuple[int, int, int], right: tuple[int, int, int]) -> str:
    """A picture that goes from one colour to another, left to right, as a PNG at ``path``."""
    share = np.linspace(0, 1, SIZE)[None, :, None]
    picture = (np.array(left) * (1 - share) + np.array(right) * share) * np.ones((SIZE, 1, 1))
    Image.fromarray(picture.astype(np.uint8)).save(path)
    return str(path)


def pixels_of(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("RGB").resize((SIZE, SIZE))).astype(float)


def morph(tmp_path, model: str, **fields) -> RenderRequest:
    values = dict(
        prompt="a red dawn || a blue night", model=model, perceptor="tiny-clip", width=SIZE, height=SIZE, steps=60,
        seed=5, init_image=gradient(tmp_path / "a.png", (220, 60, 40), (240, 220, 60)),
        morph_to=gradient(tmp_path / "b.png", (30, 40, 200), (40, 200, 120)),
        zoom_frames=5, steps_per_frame=2, init_weight=0.5, preview_every=4,
    )  # fmt: skip
    return RenderRequest(**(values | fields))


# the mean distance per channel value (of 255) from an end frame to its picture, measured with 60 fitting steps: pixels
# 0.0, a small SIREN (Deep Daze; 8 layers of 128: a fifth of the full one's time) 0.34 and 0.84; the two pictures are
# 108 apart. (tiny-vqgan's random decoder cannot paint them: 59 to 76 off.)
BOUND = 2.0


@pytest.mark.parametrize("model", ["pixels", "siren"])
def test_a_morph_starts_on_its_first_picture_ends_on_its_second_and_passes_between(engine, tmp_path, model):
    small = {"siren": {"layers": 8, "hidden_width": 128}}.get(model, {})  # a smaller SIREN: a fifth of the time
    request = morph(tmp_path, model, options=small)
    events = []
    result = engine.render(request, on_progress=events.append, keep_frames=True)
    frames = [pixels_of(frame) for frame in result.frames]
    first, second = (pixels_of(Image.open(path)) for path in (request.init_image, request.morph_to))
    apart = np.abs(first - second).mean()
    assert len(frames) == request.zoom_frames and apart > 100
    assert np.abs(frames[0] - first).mean() < BOUND, "the first frame is the first picture"
    assert np.abs(frames[-1] - second).mean() < BOUND, "the last frame is the second picture"
    towards = [np.abs(frame - second).mean() for frame in frames]
    assert towards == sorted(towards, reverse=True), "each frame is closer to the second picture than the last"
    assert [e.step for e in events] == list(range(1, request.total_steps + 1)) and request.total_steps == 2 * 60 + 3 * 2
    assert result.video is not None


def test_a_point_on_the_path_is_the_share_of_the_way(engine):
    import torch

    start, end = [torch.zeros(3), torch.ones(2, 2)], [torch.full((3,), 4.0), torch.zeros(2, 2)]
    assert [t.tolist() for t in between(start, end, 0.25)] == [[1.0, 1.0, 1.0], [[0.75, 0.75], [0.75, 0.75]]]
