"""Presets' own rules: the built-in set is valid data, a preset joins once, and what a moderator types is checked."""

import pytest

from bot.admission.presets import NAME, Preset, builtin, checked
from bot.admission.refusal import Refusal
from contract.prompts import parse_prompts


def test_every_built_in_preset_is_a_named_prompt_with_a_weight_below_the_members_own():
    presets = builtin()
    assert {"unreal-engine", "artstation", "matte-painting", "james-gurney", "8k"} <= set(presets)
    for name, preset in presets.items():
        assert NAME.fullmatch(name) and preset.builtin and preset.model is None
        assert all(0 < part.weight < 1 for part in parse_prompts(preset.text)), "a suffix never outweighs the prompt"


def test_a_preset_joins_once():
    gurney = Preset("gurney", "by James Gurney:0.5")
    once = gurney.applied("a castle")
    assert once == "a castle | by James Gurney:0.5" and gurney.applied(once) == once, "🔁 of a job made with it"


def test_what_a_moderator_types_is_normalised_or_refused():
    assert checked(" Dark-Fantasy ", " dark:0.5 ", "pixels", " cutn=5 ") == Preset("dark-fantasy", "dark:0.5", "pixels", "cutn=5")
    assert checked("x", "y", None, "  ").options is None
    for args in (("-x", "y", None, None), ("x" * 33, "y", None, None), ("x", "a || b", None, None), ("x", "", None, None)):
        with pytest.raises(Refusal):
            checked(*args)
