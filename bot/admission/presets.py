"""Presets: named prompt styles a server keeps (``/preset add``), and the built-in set of the 2021 community's
suffixes (``presets.json``: "unreal engine", "trending on artstation"...), used as ``/dream prompt preset:NAME``.

A preset adds weighted prompt parts to the member's prompt (``a castle | unreal engine:0.5``), so what it did is in
the PNG's parameters, and 🔁 and ``--from`` paint it again without knowing the preset. It may also name a model and
advanced options, which the member's own override.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from bot.admission.refusal import Refusal
from contract.errors import BadRequest
from contract.films import SCENE_SEPARATOR
from contract.prompts import parse_prompts
from contract.registry import generator_names

BUILTIN_FILE = Path(__file__).with_name("presets.json")
NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,31}", re.ASCII)
MAX_TEXT = 300
MAX_PRESETS = 100  # a server's own


@dataclass(frozen=True)
class Preset:
    name: str
    text: str  # prompt parts, as a member writes them: "unreal engine:0.5 | trending on artstation:0.3"
    model: str | None = None
    options: str | None = None  # /dream's advanced options, e.g. "cutn=64"
    builtin: bool = False

    def applied(self, prompt: str) -> str:
        """``prompt`` with the preset's parts joined on, unless it already ends with them (🔁 of a job made with it)."""
        return prompt if prompt.rstrip().endswith(self.text) else f"{prompt} | {self.text}"


@cache
def builtin() -> dict[str, Preset]:
    data = json.loads(BUILTIN_FILE.read_text(encoding="utf-8"))
    return {name: Preset(name, text, builtin=True) for name, text in data.items() if not name.startswith("_")}


def checked(name: str, text: str, model: str | None, options: str | None) -> Preset:
    """A preset a moderator typed, or a ``Refusal`` saying what is wrong with it."""
    name = name.strip().lower()
    if not NAME.fullmatch(name):
        raise Refusal(f"{name!r} is not a preset name: 1 to 32 lower-case letters, digits and dashes, e.g. dark-fantasy")
    text = text.strip()
    if len(text) > MAX_TEXT or SCENE_SEPARATOR in text:
        raise Refusal(f"A preset's text is prompt parts of at most {MAX_TEXT} characters, without {SCENE_SEPARATOR}.")
    try:
        parse_prompts(text)
    except BadRequest as error:
        raise Refusal(f"The preset's text is not a prompt: {error}.") from None
    if model is not None and model not in generator_names():
        raise Refusal(f"{model!r} is not a generator; choose one of: {', '.join(generator_names())}")
    return Preset(name, text, model, (options or "").strip() or None)
