"""A description crosses processes (a remote worker may send anything): it comes back whole from its dict, and
every way a hostile one is malformed is refused with what is wrong."""

from __future__ import annotations

import dataclasses

import pytest

from contract.describe import MAX_TOP, PROMPTS, Description, Phrase, validate_describe
from contract.errors import BadRequest
from contract.protocol import RenderRequest


def good() -> dict:
    ranked = {"mediums": [Phrase("oil on canvas", 0.31), Phrase("a photograph", -0.02)], "artists": [Phrase("Moebius", 1.0)]}
    return Description(ranked, ["oil on canvas, by Moebius"]).to_dict()


def test_a_description_comes_back_whole_from_its_dict():
    data = good()
    assert Description.from_dict(data).to_dict() == data
    assert Description.from_dict(data).ranked["artists"] == [Phrase("Moebius", 1.0)]


@pytest.mark.parametrize(
    "change",
    [
        lambda d: d.update(extra=1),
        lambda d: d.update(ranked={"weapons": []}),
        lambda d: d.update(ranked={"mediums": "oil"}),
        lambda d: d["ranked"].update(mediums=[["oil", 0.1]] * (MAX_TOP + 1)),
        lambda d: d["ranked"].update(mediums=[["oil", 1.5]]),
        lambda d: d["ranked"].update(mediums=[["oil", float("nan")]]),
        lambda d: d["ranked"].update(mediums=[["oil", "0.1"]]),
        lambda d: d["ranked"].update(mediums=[["oil", True]]),
        lambda d: d["ranked"].update(mediums=[["", 0.1]]),
        lambda d: d["ranked"].update(mediums=[["x" * 201, 0.1]]),
        lambda d: d["ranked"].update(mediums=[["oil"]]),
        lambda d: d.update(prompts=[]),
        lambda d: d.update(prompts=["a"] * (PROMPTS + 1)),
        lambda d: d.update(prompts=["  "]),
        lambda d: d.update(prompts=["x" * 1001]),
        lambda d: d.update(prompts=[7]),
        lambda d: d.update(prompts="a castle"),
    ],
)
def test_a_malformed_description_is_refused(change):
    data = good()
    change(data)
    with pytest.raises(ValueError, match="description|phrase"):
        Description.from_dict(data)
    with pytest.raises(ValueError):
        Description.from_dict([good()])


def test_a_describe_request_needs_one_picture_within_the_largest_side_and_a_known_perceptor(tmp_path):
    picture = RenderRequest("", perceptor="tiny-clip", describe=True, init_image=str(tmp_path / "a.png"), width=40, height=30)
    validate_describe(picture)
    assert picture.kind.name == "describe" and not picture.kind.paints_again
    for wrong, said in [
        ({"init_image": None}, "needs the picture"),
        ({"width": 4096}, "up to 2048 a side"),
        ({"count": 2}, "one picture"),
        ({"keep": (0, 0, 8, 8)}, "one picture"),
        ({"perceptor": "no-such-clip"}, "no-such-clip"),
    ]:
        with pytest.raises(BadRequest, match=said):
            validate_describe(dataclasses.replace(picture, **wrong))


def test_a_description_at_every_bound_is_taken():
    from contract.describe import MAX_PHRASE_CHARS, VOCABULARIES
    from contract.limits import MAX_PROMPT_CHARS

    phrases = [Phrase("x", -1.0), Phrase("y" * MAX_PHRASE_CHARS, 1.0)] + [Phrase("z", 0.5)] * (MAX_TOP - 2)
    whole = Description({name: phrases for name in VOCABULARIES}, ["a"] * (PROMPTS - 1) + ["p" * MAX_PROMPT_CHARS])
    assert Description.from_dict(whole.to_dict()) == whole, "every vocabulary, MAX_TOP phrases, PROMPTS prompts, the ends"


def test_a_describe_request_at_the_sides_bounds_is_taken(tmp_path):
    from contract.limits import MAX_SIDE

    for width, height in ((1, 1), (MAX_SIDE, MAX_SIDE)):
        validate_describe(RenderRequest("", perceptor="tiny-clip", describe=True, init_image="a.png", width=width, height=height))
    for width, height in ((0, 5), (5, 0), (MAX_SIDE + 1, 5), (5, MAX_SIDE + 1)):
        with pytest.raises(BadRequest, match="pictures up to"):
            validate_describe(RenderRequest("", perceptor="tiny-clip", describe=True, init_image="a.png", width=width,
                                            height=height))  # fmt: skip
