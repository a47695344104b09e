"""The buttons under a job's message, as each job kind declares them, and the custom ids they carry."""

from __future__ import annotations

import re

import pytest

from bot.display.views import TEMPLATE, progress_view, result_view
from bot.queue.jobs import Job, JobState
from contract.protocol import RenderRequest


def job(**fields) -> Job:
    return Job("ab12", 1, 2, 3, "member", RenderRequest(fields.pop("prompt", "a fairy house"), **fields), JobState.DONE)


def layout(view) -> list[tuple[str, int | None]]:
    return [(item.item.custom_id, item.item.row) for item in view.children]


def test_a_picture_offers_again_vary_restyle_upscale_and_its_run():
    ids = [custom_id for custom_id, _ in layout(result_view(job(model="tiny-vqgan")))]
    assert ids == [f"dream:{action}:ab12" for action in ("again", "vary", "restyle", "upscale", "gif")]


def test_strokes_add_their_svg():
    ids = [custom_id for custom_id, _ in layout(result_view(job(model="clipdraw")))]
    assert ids[-1] == "dream:svg:ab12" and len(ids) == 6


def test_a_set_has_a_row_of_upscales_a_row_of_variations_and_again_below():
    rows = layout(result_view(job(model="tiny-vqgan", count=3)))
    assert rows == [
        *[(f"dream:upscale:ab12:{n}", 0) for n in (1, 2, 3)],
        *[(f"dream:vary:ab12:{n}", 1) for n in (1, 2, 3)],
        ("dream:again:ab12", 2),
    ]
    labels = [item.item.label for item in result_view(job(model="tiny-vqgan", count=4)).children][:8]
    assert labels == ["U1", "U2", "U3", "U4", "V1", "V2", "V3", "V4"]


@pytest.mark.parametrize(
    ("fields", "ids"),
    [
        ({"zoom_frames": 4}, ["dream:again:ab12", "dream:gif:ab12"]),
        ({"prompt": "a || b"}, ["dream:again:ab12", "dream:gif:ab12"]),
        ({"prompt": "", "model": "tiny-inception", "init_image": "p.png"}, ["dream:upscale:ab12"]),
    ],
)
def test_films_and_dreams_offer_what_their_kind_declares(fields, ids):
    assert [custom_id for custom_id, _ in layout(result_view(job(**fields)))] == ids


def test_an_upscale_is_an_end_point():
    assert result_view(job(model="tiny-esrgan", init_image="p.png")) is None


def test_every_custom_id_matches_the_template_the_bot_listens_for():
    views = [progress_view("ab12"), result_view(job(count=4)), result_view(job(model="clipdraw"))]
    for view in views:
        for custom_id, _ in layout(view):
            assert re.fullmatch(TEMPLATE, custom_id), custom_id
