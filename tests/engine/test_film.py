"""Films: how the picture moves between zoom frames, how steps and scenes are shared out, how one
scene fades into the next, and whole zooms and stories on the tiny models."""

from __future__ import annotations

import dataclasses
import io
import math
import threading

import av
import numpy as np
import pytest
import torch
from PIL import Image

from contract.errors import BadRequest, JobCancelled
from contract.films import Segment, plan, story_prompt
from contract.protocol import RenderRequest
from contract.validation import validate
from engine.film import SceneBlend, SceneSpan, transform
from engine.loop import Target
from engine.video import FPS, HOLD_SECONDS, tween_for
from tests.support.pictures import noise_image, pixels
from tests.support.steering import NO_PULL, STEERED_GAP


def dot(x: int, y: int, size: int = 33) -> torch.Tensor:
    image = torch.zeros(1, 3, size, size)
    image[..., y, x] = 1.0
    return image


def where(image: torch.Tensor) -> tuple[int, int]:
    index = int(image[0, 0].argmax())
    return index % image.shape[-1], index // image.shape[-1]


def test_shift_moves_the_picture_right_and_down():
    assert where(transform(dot(10, 10), 1.0, 0.0, (3.0, 5.0))) == (13, 15)


def test_zoom_moves_every_point_away_from_the_centre_by_its_factor():
    assert where(transform(dot(20, 16), 2.0, 0.0, (0.0, 0.0))) == (24, 16)  # 4 right of the centre becomes 8
    assert where(transform(dot(16, 16), 2.0, 0.0, (0.0, 0.0))) == (16, 16)


def test_rotate_turns_counter_clockwise_on_screen():
    assert where(transform(dot(24, 16), 1.0, 90.0, (0.0, 0.0))) == (16, 8)  # right of the centre goes above it


def test_a_still_picture_stays_still():
    picture = torch.rand(1, 3, 20, 30)
    assert torch.allclose(transform(picture, 1.0, 0.0, (0.0, 0.0)), picture, atol=1e-5)


def test_a_story_shares_its_steps_out_and_the_last_scene_takes_the_rest():
    assert plan(10, 3) == [Segment(3, 0, False, 0), Segment(3, 1, False, 3), Segment(4, 2, False, 6)]


def test_a_zoom_paints_its_first_frame_in_full_and_moves_before_every_later_one():
    assert plan(20, 1, frames=3, steps_per_frame=5) == [Segment(20, 0), Segment(5, 0, True, 20), Segment(5, 0, True, 25)]


def test_a_zooming_story_shares_its_frames_out_over_the_scenes():
    assert [s.scene for s in plan(4, 2, frames=5, steps_per_frame=1)] == [0, 0, 0, 1, 1]


def test_a_story_file_becomes_one_prompt_with_a_scene_per_line():
    text = "a castle\n\n  a dragon:2 | fog:-1 \nthe sea || the sky\n"
    assert story_prompt(text) == "a castle || a dragon:2 | fog:-1 || the sea || the sky"


def test_the_new_scene_takes_over_across_its_fade():
    old, new = [Target(torch.ones(1, 4), 2.0)], [Target(torch.ones(1, 4), 1.0), Target(torch.ones(1, 4), -0.5)]
    blend = SceneBlend(old, new, SceneSpan(first_step=10, steps=20), fade=0.5)  # fades over steps 11-20
    assert [t.weight for t in blend.at(11)] == pytest.approx([1.8, 0.1, -0.05])
    assert [t.weight for t in blend.at(15)] == pytest.approx([1.0, 0.5, -0.25])
    assert [t.weight for t in blend.at(20)] == pytest.approx([0.0, 1.0, -0.5])
    assert [t.weight for t in blend.at(29)] == pytest.approx([0.0, 1.0, -0.5])
    assert [t.weight for t in old + new] == [2.0, 1.0, -0.5]  # the scenes' own targets are not touched
    first = SceneBlend([], new, SceneSpan(0, 20), fade=0.5)
    assert [t.weight for t in first.at(1)] == [1.0, -0.5]  # the first scene has nothing to fade from


def film(**overrides) -> RenderRequest:
    values = dict(prompt="a tower", model="tiny-vqgan", perceptor="tiny-clip", width=32, height=32, steps=4, seed=5)
    return RenderRequest(**{**values, **overrides})


def frames_of(video: bytes) -> int:
    with av.open(io.BytesIO(video)) as opened:
        return sum(1 for _ in opened.decode(video=0))


@pytest.mark.parametrize("model", ["tiny-vqgan", "pixels"])
def test_a_zoom_film_has_a_key_frame_per_frame_and_reports_every_step(engine, model):
    events = []
    result = engine.render(film(model=model, zoom_frames=4, steps_per_frame=2, zoom=1.1, rotate=2.0), on_progress=events.append)
    assert [e.step for e in events] == list(range(1, 11)) and {e.total_steps for e in events} == {10}
    assert len(result.losses) == 10
    tween = tween_for(4)
    assert result.video_frames == frames_of(result.video) == 1 + 3 * tween + round(HOLD_SECONDS * FPS)
    params = Image.open(io.BytesIO(result.png)).text["parameters"]
    assert "Zoom frames: 4, Steps per frame: 2, Zoom: 1.1, Rotate: 2.0, Shift: 0 0" in params


def test_the_zoom_moves_the_picture_between_frames(engine):
    """With no steps between frames the film is the transform alone: a zoom of 1.5 makes another picture than 1.0."""
    still = engine.render(film(zoom_frames=3, steps_per_frame=1, zoom=1.0, lr=1e-9))
    zoomed = engine.render(film(zoom_frames=3, steps_per_frame=1, zoom=1.5, lr=1e-9))
    moved = sum(abs(a - b) for a, b in zip(pixels(still.png), pixels(zoomed.png), strict=True)) / len(pixels(still.png))
    assert moved > 10  # mean change per channel value, of 255


def test_each_scene_of_a_story_steers_in_its_own_share_of_the_steps(engine):
    """Each scene's loss, against the same film with that scene's pull taken away (tests/support/steering.py):
    both start the scene from the same picture and cutouts, and only the pull makes the difference."""
    story = film(prompt="a red apple || a blue ocean", steps=60, story_fade=0.0, width=64, height=64)
    told = engine.render(story).losses
    for scene, controlled in ((0, f"a red apple {NO_PULL} || a blue ocean"), (1, f"a red apple || a blue ocean {NO_PULL}")):
        control = engine.render(dataclasses.replace(story, prompt=controlled)).losses
        first, last = 30 * scene, 30 * scene + 30
        assert told[first] == control[first]
        gap = sum(control[last - 5 : last]) / 5 - sum(told[last - 5 : last]) / 5
        assert gap > STEERED_GAP, f"scene {scene}: {gap:.4f}"


def test_the_same_film_twice_gives_the_same_pixels(engine):
    request = film(prompt="a tower || a bridge", zoom_frames=3, steps_per_frame=2, shift=(2.0, -1.0))
    first, again = engine.render(request), engine.render(request)
    assert pixels(first.png) == pixels(again.png) and first.losses == again.losses


def test_a_film_is_cancelled_at_its_step_in_the_whole_film(engine):
    events = []
    with pytest.raises(JobCancelled, match="after 6 of 10 steps"):
        engine.render(film(zoom_frames=4, steps_per_frame=2), on_progress=events.append, should_stop=lambda: len(events) >= 6)
    assert not [t for t in threading.enumerate() if t.name == "film encoder"], "the cancelled film's encoder thread lives on"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (dict(prompt="a || "), "empty scene"),
        (dict(zoom_frames=5000), "zoom frames"),
        (dict(zoom_frames=3, steps_per_frame=0), "steps per frame"),
        (dict(zoom_frames=2, prompt="a || b || c"), "one frame per scene"),
        (dict(zoom=5.0), "zoom must be"),
        (dict(rotate=math.nan), "rotate"),
        (dict(shift=(1000.0, 0.0)), "shift"),
        (dict(story_fade=2.0), "fade"),
        (dict(steps=300, zoom_frames=1000, steps_per_frame=10), "10290 steps in all"),
    ],
)
def test_bad_film_settings_are_refused_with_what_is_wrong(overrides, message):
    with pytest.raises(BadRequest, match=message):
        validate(film(**overrides))


def still_and_moved(engine, folder, **move) -> tuple[np.ndarray, np.ndarray]:
    """The last frame of a zoom with no pull (lr ~0) on the invertible Fourier image, started from a noise picture:
    the transforms alone."""
    noise_image(folder / "start.png", 64)
    start = str(folder / "start.png")
    base = film(model="pixels", zoom_frames=3, steps_per_frame=1, zoom=1.0, lr=1e-9, width=64, height=64, init_image=start)
    still = engine.render(base).image
    moved = engine.render(dataclasses.replace(base, **move)).image
    return np.asarray(still, dtype=np.float64), np.asarray(moved, dtype=np.float64)


def test_the_films_shift_moves_the_picture_by_its_pixels_per_frame(engine, tmp_path):
    """Two moves of (4, 0): the last frame is the still one 8 pixels to the right (edges aside), and nothing else.
    Measured: 0.0 per channel value on the shifted overlap, against 85 for the picture not shifted back."""
    still, moved = still_and_moved(engine, tmp_path, shift=(4.0, 0.0))
    assert np.abs(moved[8:-8, 16:-8] - still[8:-8, 8:-16]).mean() < 1.0
    assert np.abs(moved[8:-8, 16:-8] - still[8:-8, 16:-8]).mean() > 20.0


@pytest.mark.parametrize("move", [{"rotate": 20.0}, {"zoom": 1.3}, {"shift": (0.0, 6.0)}], ids=["rotate", "zoom", "down"])
def test_each_move_of_a_zoom_changes_the_film(engine, tmp_path, move):
    """Measured: 69-77 per channel value away from the still film; the still film against itself, 0.0."""
    still, moved = still_and_moved(engine, tmp_path, **move)
    assert np.abs(moved - still).mean() > 20.0


def test_a_story_whose_scenes_are_shorter_than_the_preview_interval_keeps_each_scene_in_its_film(engine, monkeypatch):
    """18 steps, 3 scenes of 6, a preview every 10: the film's frames came at steps 10 and 18 only, so it opened on
    the second scene and the first never showed."""
    from engine.pipeline import RenderTask

    captions: list[str] = []
    monkeypatch.setattr(RenderTask, "key_frame", lambda task, frame, caption="": captions.append(caption))
    engine.render(film(prompt="a seed || a sapling || an oak", steps=18, preview_every=10, captions=True))
    assert captions[0] == "a seed" and set(captions) == {"a seed", "a sapling", "an oak"}, captions
