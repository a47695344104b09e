"""Each request has one kind, and what depends on the kind reads its declaration."""

from __future__ import annotations

import pytest

from contract.kinds import KINDS, kind_of
from contract.protocol import RenderRequest, batch_key


@pytest.mark.parametrize(
    ("request_", "kind"),
    [
        (RenderRequest("a fairy house"), "picture"),
        (RenderRequest("a fairy house", count=3), "set"),
        (RenderRequest("a fairy house", zoom_frames=5), "film"),
        (RenderRequest("a forest || a castle"), "film"),
        (RenderRequest("", model="tiny-inception", init_image="x.png"), "deepdream"),
        (RenderRequest("a cat", model="tiny-inception", init_image="x.png", count=2), "deepdream"),  # by its model first
        (RenderRequest("a cat", model="tiny-esrgan", init_image="x.png"), "upscale"),
        (RenderRequest("a cat", model="realesrgan-x4plus", zoom_frames=3), "upscale"),
    ],
)
def test_a_request_has_the_first_kind_that_matches(request_, kind):
    assert request_.kind is kind_of(request_) is KINDS[kind]


def test_only_single_pictures_share_a_batch():
    batched = {name for name, kind in KINDS.items() if kind.batches}
    assert batched == {"picture"}
    assert batch_key(RenderRequest("a", model="tiny-vqgan")) is not None
    assert batch_key(RenderRequest("a", model="tiny-vqgan", count=2)) is None


def test_every_kind_offers_only_buttons_that_exist():
    from bot.display.views import BUTTONS

    assert all(set(kind.buttons) | set(kind.per_candidate) <= set(BUTTONS) for kind in KINDS.values())
