"""Colours as members type them: a name or ``#rrggbb`` (CLIPDraw's background)."""

from __future__ import annotations

import re

NAMED = {"white": (255, 255, 255), "black": (0, 0, 0), "grey": (128, 128, 128), "gray": (128, 128, 128)}
HEX = re.compile(r"#([0-9a-fA-F]{6})")


def is_colour(text: str) -> bool:
    return text.lower() in NAMED or HEX.fullmatch(text) is not None


def rgb(text: str) -> tuple[int, int, int]:
    """The colour's red, green and blue, 0 to 255."""
    if text.lower() in NAMED:
        return NAMED[text.lower()]
    if not (match := HEX.fullmatch(text)):
        raise ValueError(f"not a colour: {text!r}")
    value = int(match[1], 16)
    return value >> 16, (value >> 8) & 255, value & 255
