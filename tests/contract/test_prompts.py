import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from contract.errors import BadRequest
from contract.prompts import WeightedPrompt, format_item, parse_item, parse_noise_prompt, parse_prompts


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a fairy house", [WeightedPrompt("a fairy house")]),
        ("a | b:0.5 | c:-1", [WeightedPrompt("a"), WeightedPrompt("b", 0.5), WeightedPrompt("c", -1.0)]),
        ("castle:2:0.8", [WeightedPrompt("castle", 2.0, 0.8)]),
        ("castle :+1.5e0", [WeightedPrompt("castle", 1.5)]),
        ("  spaced  : 3 ", [WeightedPrompt("spaced", 3.0)]),
        ("a photo, aspect 4:3", [WeightedPrompt("a photo, aspect 4:3")]),
        ("at 12:30 sharp", [WeightedPrompt("at 12:30 sharp")]),
        ("a 4:3 photo :2", [WeightedPrompt("a 4:3 photo", 2.0)]),
        ("https://example.com/a.png", [WeightedPrompt("https://example.com/a.png")]),
        ("http://host:8080/img:0.5", [WeightedPrompt("http://host:8080/img", 0.5)]),
        ("ratio: wide", [WeightedPrompt("ratio: wide")]),
    ],
)
def test_parse(text, expected):
    assert parse_prompts(text) == expected


def test_default_stop_never_stops():
    assert parse_prompts("x")[0].stop == -math.inf


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("a || b", "empty part"),
        (":0.5", "no text"),
        ("a:-1", "positive weight"),
        ("x" * 1001, "limit is 1000"),
    ],
)
def test_bad_prompts(text, message):
    with pytest.raises(BadRequest, match=message):
        parse_prompts(text)


def test_noise_prompts():
    assert parse_noise_prompt("42") == (42, 1.0)
    assert parse_noise_prompt("7:-0.5") == (7, -0.5)
    with pytest.raises(BadRequest, match="SEED"):
        parse_noise_prompt("abc")


def test_a_space_before_the_weight_reads_it_even_after_a_digit():
    """README: a space before ``:weight`` weighs a text that ends in a digit."""
    assert parse_prompts("a photo 4:3 :2") == [WeightedPrompt("a photo 4:3", 2.0)]
    assert parse_prompts("a photo 4:3 :2:0.5") == [WeightedPrompt("a photo 4:3", 2.0, 0.5)]
    assert parse_prompts("a photo 4:3:2") == [WeightedPrompt("a photo 4:3:2")], "without the space, it stays text"


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet=st.characters(blacklist_characters="|", blacklist_categories=("Cs",)), min_size=1, max_size=40))
def test_a_parsed_prompt_formats_and_parses_back_to_itself(item):
    try:
        prompt = parse_item(item)
    except BadRequest:
        return
    if math.isfinite(prompt.stop) or prompt.stop == -math.inf:
        assert parse_item(format_item(prompt)) == prompt


@settings(max_examples=300, deadline=None)
@given(
    before=st.text(alphabet="abc 4/.", max_size=12).filter(lambda t: t.strip() and not t.endswith(" ")),
    digits=st.from_regex(r"[0-9]{1,3}", fullmatch=True),
)
def test_a_colon_after_a_digit_stays_text(before, digits):
    """``x4:3``-like text is never read as a weight unless a space comes before the colon."""
    text = f"{before}4:{digits}"
    assert parse_item(text).text == text.strip() and parse_item(text).weight == 1.0
