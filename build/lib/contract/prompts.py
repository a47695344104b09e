"""Prompt syntax: ``text[:weight[:stop]]`` separated by ``|``.

Weights and stops are read from the right, and only where the text before them does not end in a
digit, so ``"4:3"``, ``"12:30"`` and URLs stay text. A space before the colon always makes a weight:
``"a 4:3 photo :2"`` and ``"a photo 4:3 :2"`` weigh such prompts. What reads as a failed weight is
refused rather than painted as text: ``nan`` or ``inf`` where a weight or stop goes, and three or more
numbers after text (``"b:1:2:3"``).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from contract.errors import BadRequest
from contract.limits import MAX_PROMPT_CHARS

_NUMBER = re.compile(r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?")
_NOT_FINITE = re.compile(r"[-+]?(?:nan|inf|infinity)", re.IGNORECASE)


@dataclass(frozen=True)
class WeightedPrompt:
    """One prompt; a negative ``weight`` pushes away, ``stop`` ends the pull once the distance is below it."""

    text: str
    weight: float = 1.0
    stop: float = -math.inf


def _is_number(field: str) -> bool:
    return _NUMBER.fullmatch(field.strip()) is not None


def _split_fields(item: str) -> tuple[str, list[float]]:
    """Peel up to two numeric ``:`` fields off the right end of ``item``."""
    for count in (2, 1):
        parts = item.rsplit(":", count)
        if len(parts) != count + 1:
            continue
        text, fields = parts[0], parts[1:]
        if all(_is_number(f) for f in fields) and not text[-1:].isdigit():
            return text, [float(f.strip()) for f in fields]  # float() strips less than str.strip() (e.g. '\x1f')
    return item, []


def _check_not_misread(item: str) -> None:
    """Refuse what the rule would read as text but was meant as numbers: a non-finite weight or stop, or
    more numbers than a weight and a stop after text that does not end in a digit."""
    parts = item.split(":")
    tail = 0
    while tail < len(parts) - 1 and (_is_number(parts[-1 - tail]) or _NOT_FINITE.fullmatch(parts[-1 - tail].strip())):
        tail += 1
    text = ":".join(parts[: len(parts) - tail])
    if not tail or text[-1:].isdigit():
        return
    if any(_NOT_FINITE.fullmatch(field.strip()) for field in parts[len(parts) - tail :]):
        raise BadRequest(f"the weight and stop in {item.strip()!r} must be finite numbers (text:weight or text:weight:stop)")
    if tail > 2:
        raise BadRequest(f"{item.strip()!r} ends in {tail} numbers; a prompt part is text:weight or text:weight:stop")


def parse_item(item: str) -> WeightedPrompt:
    """Parse one ``text[:weight[:stop]]`` item (also used for image-prompt paths)."""
    _check_not_misread(item)
    text, fields = _split_fields(item)
    text = text.strip()
    if not text:
        raise BadRequest(f"prompt part {item!r} has no text")
    weight = fields[0] if fields else 1.0
    stop = fields[1] if len(fields) > 1 else -math.inf
    if not math.isfinite(weight):
        raise BadRequest(f"prompt weight in {item!r} must be a finite number")
    return WeightedPrompt(text, weight, stop)


def format_item(prompt: WeightedPrompt) -> str:
    """The text ``parse_item`` reads back as ``prompt``: the weight (and a finite stop) after a space."""
    fields = f"{prompt.weight!r}" if prompt.stop == -math.inf else f"{prompt.weight!r}:{prompt.stop!r}"
    return f"{prompt.text} :{fields}"


def parse_prompts(prompt: str) -> list[WeightedPrompt]:
    """Split a full prompt on ``|`` and parse each part; raises ``BadRequest`` on empty or over-long input."""
    if not prompt or not prompt.strip():
        raise BadRequest("the prompt is empty: describe the picture you want")
    if len(prompt) > MAX_PROMPT_CHARS:
        raise BadRequest(f"the prompt is {len(prompt)} characters long; the limit is {MAX_PROMPT_CHARS}")
    items = [part for part in prompt.split("|")]
    if any(not part.strip() for part in items):
        raise BadRequest("the prompt has an empty part between '|' separators")
    prompts = [parse_item(part) for part in items]
    if all(p.weight <= 0 for p in prompts):
        raise BadRequest("at least one prompt part needs a positive weight, or nothing pulls the picture")
    return prompts


def parse_noise_prompt(item: str) -> tuple[int, float]:
    """Parse ``seed[:weight]``: a random target embedding drawn from ``seed``."""
    seed, _, weight = item.partition(":")
    try:
        return int(seed), float(weight) if weight else 1.0
    except ValueError:
        raise BadRequest(f"noise prompt {item!r} must look like SEED or SEED:WEIGHT") from None
