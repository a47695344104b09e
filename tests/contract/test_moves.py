"""The moves' geometry: where Pan and Zoom Out put the old picture on their canvas, and the start they compose."""

import pytest
from PIL import Image

from contract.moves import MAX_ZOOM_OUT, Canvas, composed, pan_canvas, strength_of, variation, zoom_out_canvas


@pytest.mark.parametrize(
    ("direction", "canvas"),
    [
        ("right", Canvas(384, 192, (0, 0, 256, 192))),
        ("left", Canvas(384, 192, (128, 0, 256, 192))),
        ("down", Canvas(256, 288, (0, 0, 256, 192))),
        ("up", Canvas(256, 288, (0, 96, 256, 192))),
    ],
)
def test_a_pan_grows_the_canvas_towards_its_direction_by_its_share_in_steps_of_16(direction, canvas):
    assert pan_canvas(256, 192, direction) == canvas
    assert pan_canvas(256, 192, direction, 0.25).keep[2:] == (256, 192), "the old picture keeps its size"
    assert pan_canvas(40, 40, "right", 0.1).width == 56, "at least one step"


def test_a_zoom_out_keeps_the_canvas_and_shrinks_the_picture_into_its_centre():
    assert zoom_out_canvas(256, 192, 2.0) == Canvas(256, 192, (64, 48, 128, 96))
    assert zoom_out_canvas(256, 256, 1.5) == Canvas(256, 256, (42, 42, 171, 171))
    for factor in (1.0, 0.5, MAX_ZOOM_OUT + 0.1, float("nan")):
        with pytest.raises(ValueError, match="a zoom out is a factor above 1"):
            zoom_out_canvas(256, 256, factor)
    with pytest.raises(ValueError, match="is not a direction"):
        pan_canvas(256, 256, "sideways")


def test_the_start_holds_the_old_picture_exactly_in_its_box_and_its_colours_around_it():
    picture = Image.effect_noise((64, 48), 80).convert("RGB")
    start = composed(picture, pan_canvas(64, 48, "left"))
    assert start.size == (96, 48) and start.crop((32, 0, 96, 48)).tobytes() == picture.tobytes()
    outside = start.crop((0, 0, 32, 48)).convert("L").getextrema()
    assert outside[1] - outside[0] < 120, "the new strip starts from the picture's blurred colours, not its noise"
    zoomed = composed(picture, zoom_out_canvas(64, 48, 2.0))
    assert zoomed.crop((16, 12, 48, 36)).tobytes() == picture.resize((32, 24), Image.Resampling.LANCZOS).tobytes()


def test_strengths_are_named_or_shares():
    assert [strength_of(t) for t in ("subtle", " Strong ", "0.35")] == [0.2, 0.6, 0.35]
    assert variation(0.2) == (0.2, 0.8)
    for text in ("wild", "-0.1", "1.5", "nan"):
        with pytest.raises(ValueError):
            strength_of(text)
