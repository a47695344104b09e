"""Round trips with every field away from its default: the wire (bot to engine, bot to worker, JSON), the
PNG's parameters for stills, zooms, stories and sets, and the batch key (what may share a batch).

``NON_DEFAULT`` holds a value for every ``RenderRequest`` field, and a test checks that it does: a new
field is then carried, recorded and batched on purpose, not by luck.
"""

from __future__ import annotations

import dataclasses
import json

import pytest

from contract import parameters
from contract.protocol import RenderRequest, batch_key
from contract.validation import validate
from tests.support.requests import KINDS, NON_DEFAULT, as_recorded, painted

KEY_FIELDS = ("model", "perceptor", "width", "height")


def test_every_field_has_a_value_away_from_its_default():
    fields = {f.name: f for f in dataclasses.fields(RenderRequest)}
    assert set(NON_DEFAULT) == set(fields)
    defaults = RenderRequest("x")
    assert all(NON_DEFAULT[name] != getattr(defaults, name) for name in fields if name != "prompt")


def test_the_wire_carries_every_field_as_json():
    request = RenderRequest(**NON_DEFAULT)
    assert RenderRequest.from_dict(json.loads(json.dumps(request.to_dict()))) == request


@pytest.mark.parametrize("name", [n for n in NON_DEFAULT if n != "prompt"])
def test_the_wire_carries_each_field_alone(name):
    request = RenderRequest("a castle", **{name: NON_DEFAULT[name]})
    back = RenderRequest.from_dict(json.loads(json.dumps(request.to_dict())))
    assert back == request and getattr(back, name) == NON_DEFAULT[name]


@pytest.mark.parametrize("kind", KINDS)
def test_the_pngs_parameters_read_back_every_field_that_decides_the_picture(tmp_path, kind):
    request = painted(tmp_path, **KINDS[kind])
    fields = parameters.read(parameters.write(validate(request), 1.0, "0.1.0"))
    assert fields.pop("init_image") == "start.png" and fields.pop("image_prompts") == ("picture.png:2", "picture.png")
    assert RenderRequest(**fields) == dataclasses.replace(as_recorded(request, kind), init_image=None, image_prompts=())


@pytest.mark.parametrize("name", KEY_FIELDS)
def test_each_part_of_the_batch_key_keeps_jobs_apart(name):
    base = RenderRequest("a castle", model="tiny-vqgan", perceptor="tiny-clip", width=32, height=32)
    other = {"model": "pixels", "perceptor": "ViT-B-32/openai", "width": 48, "height": 48}[name]
    assert batch_key(dataclasses.replace(base, **{name: other})) != batch_key(base)


ALONE = {"zoom_frames", "count", "prompt", "describe", "morph_to"}  # films, sets, stories, descriptions: never batched


@pytest.mark.parametrize("name", sorted(set(NON_DEFAULT) - set(KEY_FIELDS) - ALONE))
def test_every_other_field_is_each_members_own_and_keeps_the_batch(name):
    base = RenderRequest("a castle", model="tiny-vqgan", perceptor="tiny-clip", width=32, height=32)
    assert batch_key(dataclasses.replace(base, **{name: NON_DEFAULT[name]})) == batch_key(base) is not None


@pytest.mark.parametrize(
    "alone",
    [{"zoom_frames": 4}, {"count": 2}, {"prompt": "a castle || a ruin"}, {"model": "tiny-esrgan"}, {"model": "tiny-inception"},
     {"describe": True}],
    ids=["zoom", "set", "story", "upscale", "deepdream", "describe"],
)  # fmt: skip
def test_films_sets_upscales_dreams_and_descriptions_run_alone(alone):
    assert batch_key(RenderRequest(**({"prompt": "a castle"} | alone))) is None
