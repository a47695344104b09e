"""A family's option checks its value's type and range and says which option and what it takes."""

import pytest

from contract.errors import BadRequest
from contract.options import Option, resolve_options

DEPTH = Option("depth", int, 8, lambda v: 1 <= v <= 32, "between 1 and 32", "layers")
RATE = Option("rate", float, None, lambda v: 0 < v <= 1, "above 0 and at most 1", "how fast")
MODE = Option("mode", str, "soft", lambda v: v in ("soft", "hard"), "soft or hard", "how")


def test_values_are_checked_and_typed():
    assert DEPTH.check(12) == 12 and DEPTH.check(12.0) == 12 and isinstance(DEPTH.check(12.0), int)
    assert RATE.check(1) == 1.0 and isinstance(RATE.check(1), float)
    assert MODE.check("hard") == "hard"
    assert (DEPTH.flag, RATE.label) == ("--depth", "Rate")


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        (DEPTH, 12.5, "depth must be a whole number, not 12.5"),
        (DEPTH, 0, "depth must be between 1 and 32, not 0"),
        (DEPTH, True, "depth must be a number, not True"),
        (DEPTH, "8", "depth must be a number, not '8'"),
        (RATE, 0.0, "rate must be above 0 and at most 1, not 0.0"),
        (MODE, "medium", "mode must be soft or hard, not 'medium'"),
        (MODE, 3, "mode must be soft or hard, not 3"),
    ],
)
def test_a_bad_value_names_the_option_and_what_it_takes(option, value, message):
    with pytest.raises(BadRequest) as refused:
        option.check(value)
    assert str(refused.value) == message


def test_resolving_applies_given_values_over_defaults_and_refuses_strangers():
    assert resolve_options("SIREN", (DEPTH, RATE, MODE), {"rate": 0.5}) == {"depth": 8, "rate": 0.5, "mode": "soft"}
    assert resolve_options("SIREN", (DEPTH,), {"depth": None}) == {"depth": 8}  # None: the default
    with pytest.raises(BadRequest, match="SIREN has no option 'width'; its options are depth, rate"):
        resolve_options("SIREN", (DEPTH, RATE), {"width": 3})
    with pytest.raises(BadRequest, match="pixels has no option 'depth'; it takes none"):
        resolve_options("pixels", (), {"depth": 3})
