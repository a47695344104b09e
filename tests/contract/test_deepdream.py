"""A DeepDream job's options and limits, checked before any network loads."""

import pytest
from PIL import Image

from contract.deepdream import DREAM_LAYERS, dream_options, fitted, validate_deepdream
from contract.errors import BadRequest
from contract.protocol import RenderRequest


def test_a_picture_is_fitted_keeping_its_shape_and_never_grown():
    assert fitted(4000, 2000, 1024, 1024) == (1024, 512)
    assert fitted(300, 600, 1024, 256) == (128, 256)
    assert fitted(100, 50, 1024, 1024) == (100, 50)
    assert fitted(5000, 1, 100, 100) == (100, 1)  # a side never rounds down to nothing


def test_options_default_and_check():
    assert dream_options({})["layer"] == "inception4c"
    assert dream_options({"octaves": 2})["octaves"] == 2
    assert "conv1" not in DREAM_LAYERS and "inception5b" in DREAM_LAYERS
    with pytest.raises(BadRequest, match="layer must be one of"):
        dream_options({"layer": "maxpool4"})


def dream(tmp_path, **fields) -> RenderRequest:
    picture = tmp_path / "p.png"
    Image.new("RGB", (40, 30)).save(picture)
    base = {"model": "tiny-inception", "width": 40, "height": 30, "steps": 4, "init_image": str(picture)}
    return RenderRequest(fields.pop("prompt", ""), **(base | fields))


def test_a_dream_on_a_picture_passes(tmp_path):
    assert validate_deepdream(dream(tmp_path, options={"jitter": 0}))["jitter"] == 0


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"init_image": None}, "dreams on a picture"),
        ({"width": 4096}, "DeepDream takes pictures up to 2048 a side"),
        ({"count": 2}, "makes one picture"),
        ({"zoom_frames": 3}, "makes one picture"),
        ({"steps": 0}, "steps"),
        ({"prompt": "a cat", "perceptor": "no-such-clip"}, "no-such-clip"),
        ({"options": {"octaves": 9}}, "octaves must be between 1 and 8"),
    ],
)
def test_each_problem_is_named(tmp_path, fields, message):
    with pytest.raises(BadRequest, match=message):
        validate_deepdream(dream(tmp_path, **fields))
