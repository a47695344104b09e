"""CLIP interrogation as both sides agree on it: a description is each vocabulary's phrases ranked by the
perceptor's cosine similarity to a picture, and up to ``PROMPTS`` candidate prompts made of the best. The engine
makes one (``engine/describe.py``); the bot shows it with a button per prompt, and checks one that crossed from a
worker before it keeps it (``Description.from_dict``)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from contract.errors import BadRequest
from contract.limits import MAX_PROMPT_CHARS, MAX_SIDE

VOCABULARIES = ("mediums", "movements", "artists", "flavours")
PROMPTS = 4  # candidate prompts of a description, at most
MAX_TOP = 50  # phrases kept of each vocabulary, at most
MAX_PHRASE_CHARS = 200


@dataclass(frozen=True)
class Phrase:
    text: str
    score: float  # cosine similarity to the picture (an ensemble's: its members' mean)


@dataclass(frozen=True)
class Description:
    ranked: dict[str, list[Phrase]]  # each vocabulary's phrases, closest first
    prompts: list[str]  # up to PROMPTS candidate prompts, the likeliest first

    def to_dict(self) -> dict[str, Any]:
        ranked = {name: [[p.text, round(p.score, 5)] for p in phrases] for name, phrases in self.ranked.items()}
        return {"ranked": ranked, "prompts": list(self.prompts)}

    @classmethod
    def from_dict(cls, data: Any) -> Description:
        """A description from another process, or ``ValueError`` saying what is wrong with it: known vocabularies
        only, at most ``MAX_TOP`` short phrases each with a similarity from -1 to 1, 1 to ``PROMPTS`` prompts that
        a /dream would take."""
        if not isinstance(data, dict) or set(data) != {"ranked", "prompts"}:
            raise ValueError("a description is an object of ranked phrases and prompts")
        ranked, prompts = data["ranked"], data["prompts"]
        if not isinstance(ranked, dict) or not set(ranked) <= set(VOCABULARIES):
            raise ValueError(f"a description ranks the vocabularies {', '.join(VOCABULARIES)} only")
        checked = {}
        for name, phrases in ranked.items():
            if not isinstance(phrases, list) or len(phrases) > MAX_TOP:
                raise ValueError(f"the {name} of a description are a list of at most {MAX_TOP} phrases")
            checked[name] = [_phrase(item) for item in phrases]
        if not isinstance(prompts, list) or not 1 <= len(prompts) <= PROMPTS:
            raise ValueError(f"a description has 1 to {PROMPTS} prompts")
        if not all(isinstance(p, str) and 0 < len(p.strip()) <= MAX_PROMPT_CHARS for p in prompts):
            raise ValueError(f"a description's prompts are texts of 1 to {MAX_PROMPT_CHARS} characters")
        return cls(checked, list(prompts))


def _phrase(item: Any) -> Phrase:
    if not (isinstance(item, list) and len(item) == 2 and isinstance(item[0], str) and type(item[1]) in (int, float)):
        raise ValueError("a ranked phrase is its text and its score")
    text, score = item
    if not 0 < len(text) <= MAX_PHRASE_CHARS or not (math.isfinite(score) and -1.0 <= score <= 1.0):
        raise ValueError(f"a ranked phrase has 1 to {MAX_PHRASE_CHARS} characters and a similarity from -1 to 1")
    return Phrase(text, float(score))


def validate_describe(request: Any) -> None:
    """A /describe request (``RenderRequest.describe``): one picture, within ``MAX_SIDE`` a side, and a perceptor."""
    from contract.validation import check_perceptor

    if not request.init_image:
        raise BadRequest("a description needs the picture to describe")
    if not (1 <= request.width <= MAX_SIDE and 1 <= request.height <= MAX_SIDE):
        raise BadRequest(f"the picture is {request.width}x{request.height}; pictures up to {MAX_SIDE} a side are described")
    if request.count != 1 or request.is_film or request.keep:
        raise BadRequest("a description is of one picture; it paints no sets, films or canvases")
    check_perceptor(request.perceptor)
