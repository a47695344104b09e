"""The CLIP zero-shot check, as the bot and the engine agree on it: concept prompts a server names (what it does not
want shown outside age-restricted channels), each scored by the perceptor against neutral prompts.

A concept's score is its share of a softmax over its own similarity to the picture and the neutral prompts'
(CLIP's zero-shot classification, with the concept as one class and plain descriptions of pictures as the others):
near 1 when the picture looks more like the concept than like any plain picture, near 0 when it does not. It cannot
be calibrated without trained weights and the owner's own pictures, so it is off until a server names concepts, and
``dreambot check IMAGE --concepts ...`` prints the scores that a threshold is chosen from.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

# Plain descriptions of what a painted picture usually is: a concept must beat all of them to score high.
NEUTRAL_PROMPTS = (
    "a painting",
    "a photo",
    "a drawing",
    "an illustration",
    "a landscape",
    "a portrait of a person",
    "an abstract pattern",
    "a building",
)
LOGIT_SCALE = 100.0  # CLIP's trained temperature: cosine similarities times this are its logits
MAX_CONCEPTS = 20
MAX_CONCEPT_CHARS = 100
DEFAULT_CONCEPT_THRESHOLD = 0.5


def check_concepts(concepts: object) -> tuple[str, ...]:
    """The concepts of a command or a setting, or ``ValueError`` saying what is wrong (they cross processes)."""
    if not isinstance(concepts, (list, tuple)) or not all(isinstance(c, str) for c in concepts):
        raise ValueError("concepts are a list of phrases")
    phrases = tuple(dict.fromkeys(c.strip() for c in concepts if c.strip()))
    if len(phrases) > MAX_CONCEPTS:
        raise ValueError(f"at most {MAX_CONCEPTS} concepts, not {len(phrases)}")
    if any(len(c) > MAX_CONCEPT_CHARS for c in phrases):
        raise ValueError(f"each concept may be at most {MAX_CONCEPT_CHARS} characters")
    return phrases


def concept_scores(similarities: Mapping[str, float], neutral: Sequence[float]) -> dict[str, float]:
    """Each concept's zero-shot score from its cosine similarity to the picture and the neutral prompts'."""
    logits = [LOGIT_SCALE * s for s in neutral]
    scores = {}
    for concept, similarity in similarities.items():
        own = LOGIT_SCALE * similarity
        top = max(own, *logits)
        total = math.exp(own - top) + sum(math.exp(logit - top) for logit in logits)
        scores[concept] = math.exp(own - top) / total
    return scores


def checked_scores(scores: object, asked: Sequence[str]) -> dict[str, float]:
    """The scores of the concepts ``asked`` in what an engine or a worker sent back, or ``ValueError``: each must
    be there, a share from 0 to 1 (others are ignored: a concept a moderator removed while the job ran)."""
    if not isinstance(scores, dict):
        raise ValueError("the concept scores are not a mapping")
    if missing := [concept for concept in asked if concept not in scores]:
        raise ValueError(f"no score for {missing[0]!r}")
    good = {}
    for concept in asked:
        score = scores[concept]
        if isinstance(score, bool) or not isinstance(score, (int, float)) or not 0.0 <= score <= 1.0:
            raise ValueError(f"the score of {concept!r} is not a share from 0 to 1")
        good[concept] = float(score)
    return good
