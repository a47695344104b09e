"""/dream's ``options`` string: read once the model is known, applied as the command line checks it, kept by 🔁,
and suggested as the member types."""

from __future__ import annotations

import pytest

from bot.admission.advanced import OptionsError, apply, given, parse, suggestions
from contract.protocol import RenderRequest


def test_loop_knobs_become_fields_and_painter_options_go_under_options():
    assert parse("cutn=64 lr=0.05, truncation=0.7", "tiny-biggan") == {"cutn": 64, "lr": 0.05, "options": {"truncation": 0.7}}
    assert parse("  ", "tiny-vqgan") == {}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("truncation=0.7", "tiny-vqgan takes no option 'truncation'; it takes perceptor, cutn"),
        ("cutn=64 cutn=32", "The option 'cutn' is given twice."),
        ("cutn=6.5", "The option cutn must be a whole number, not '6.5'."),
        ("lr=fast", "The option lr must be a number, not 'fast'."),
        ("cutn=64 please", "I could not read 'please'"),
        ("x" * 301, "at most 300"),
    ],
)
def test_what_cannot_be_read_is_named(text, message):
    with pytest.raises(OptionsError) as refused:
        parse(text, "tiny-vqgan")
    assert message in str(refused.value)


def test_applied_options_are_checked_and_change_only_their_fields():
    request = RenderRequest("a cat", model="tiny-biggan", perceptor="tiny-clip")
    changed = apply(request, {"cutn": 8, "options": {"truncation": 0.5}}, ())
    assert (changed.cutn, changed.options) == (8, {"truncation": 0.5})
    assert changed == RenderRequest("a cat", model="tiny-biggan", perceptor="tiny-clip", cutn=8, options={"truncation": 0.5})
    with pytest.raises(OptionsError, match="truncation"):
        apply(request, {"options": {"truncation": 5.0}}, ())
    with pytest.raises(OptionsError, match="This server offers the perceptors tiny-clip, ViT-B-32/openai, not 'RN50/openai'"):
        apply(request, {"perceptor": "RN50/openai"}, ("ViT-B-32/openai",))
    assert apply(request, {"perceptor": "ViT-B-32/openai"}, ("ViT-B-32/openai",)).perceptor == "ViT-B-32/openai"


def test_again_keeps_what_was_given_beyond_the_defaults_in_parse_form():
    request = RenderRequest("a cat", model="tiny-biggan", cutn=8, optimizer="sgd", options={"truncation": 0.5}, init_weight=2.0)
    assert given(request) == {"cutn": 8, "optimizer": "sgd", "options": {"truncation": 0.5}}
    assert given(RenderRequest("a cat")) == {}
    assert apply(RenderRequest("a cat", model="tiny-biggan"), given(request), ()).cutn == 8


def test_suggestions_offer_unused_keys_matching_the_word_being_typed():
    shown = [value for _, value in suggestions("cutn=64 c", "tiny-vqgan")]
    assert shown == ["cutn=64 cut_pow=", "cutn=64 codebook_temperature="]  # cutn is used: not offered again
    assert suggestions("cutn=6", "tiny-vqgan")[0] == ("cutn=6", "cutn=6")  # a value being typed is kept first
    assert {value for _, value in suggestions("", "tiny-biggan")} >= {"truncation=", "cutn=", "lr="}
    assert len(suggestions("", "tiny-biggan", limit=3)) == 3
