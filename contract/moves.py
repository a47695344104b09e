"""The moves a member makes after a picture, as the bot, the command line and the engine agree on them. A variation's
strength: how much of the seed's fresh noise is mixed into the parent's picture where it starts (``init_noise``),
and how weakly it is then held to that picture (``init_weight`` is one less the strength), so Subtle keeps the
composition and Strong keeps its colours and little more."""

from __future__ import annotations

STRENGTHS = {"subtle": 0.2, "strong": 0.6}  # the defaults of the server settings vary_subtle and vary_strong


def strength_of(text: str, named: dict[str, float] | None = None) -> float:
    """``subtle``, ``strong`` (as ``named`` sets them) or a share from 0 to 1; ``ValueError`` says what would do."""
    word = text.strip().lower()
    if word in STRENGTHS:
        return (named or STRENGTHS)[word]
    try:
        value = float(word)
    except ValueError:
        raise ValueError(f"{text!r} is not a strength; use subtle, strong or a share from 0 to 1") from None
    if not 0.0 <= value <= 1.0:  # NaN too
        raise ValueError(f"a strength is a share from 0 to 1, not {text}")
    return value


def variation(strength: float) -> tuple[float, float]:
    """(``init_noise``, ``init_weight``) of a variation of this strength."""
    return round(strength, 4), round(1.0 - strength, 4)
