import math

import pytest

from contract.errors import BadRequest
from contract.prompts import WeightedPrompt, parse_noise_prompt, parse_prompts


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
