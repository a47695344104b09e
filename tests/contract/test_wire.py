"""The files a remote worker fetches for a job (``inputs``) and puts back in their places (``with_inputs``): each
picture lands in the field it came from, a morph's second picture included."""

from __future__ import annotations

import pytest

from contract.protocol import RenderRequest
from contract.wire import inputs, with_inputs


@pytest.mark.parametrize(
    "fields",
    [
        {},
        {"init_image": "/bot/init.png"},
        {"image_prompts": ("/bot/p0.png", "/bot/p1.png")},
        {"init_image": "/bot/init.png", "morph_to": "/bot/end.png", "image_prompts": ("/bot/p0.png",)},
    ],
)
def test_every_picture_goes_back_where_it_came_from(fields):
    request = RenderRequest("a castle", **fields)
    named = inputs(request)
    fetched = [f"/worker/{n}.png" for n in range(len(named))]
    moved = with_inputs(request, fetched)
    assert inputs(moved) == fetched
    assert [bool(getattr(moved, f)) for f in ("init_image", "morph_to")] == [bool(request.init_image), bool(request.morph_to)]
    if request.morph_to:
        assert (moved.init_image, moved.morph_to) == ("/worker/0.png", "/worker/1.png")
