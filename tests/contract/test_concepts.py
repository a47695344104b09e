"""The CLIP zero-shot check's arithmetic and the checks on what crosses processes (``contract/concepts.py``)."""

import math

import pytest

from contract.concepts import (
    LOGIT_SCALE,
    MAX_CONCEPTS,
    NEUTRAL_PROMPTS,
    check_concepts,
    checked_scores,
    concept_scores,
)


def test_a_concept_scores_its_share_of_a_softmax_against_the_neutral_prompts():
    neutral = [0.20] * len(NEUTRAL_PROMPTS)
    scores = concept_scores({"even": 0.20, "closer": 0.25, "farther": 0.15}, neutral)
    assert scores["even"] == pytest.approx(1 / (len(neutral) + 1))
    # 0.05 of cosine above every neutral prompt is a logit 5 higher: e^5 against the neutral prompts' 8
    assert scores["closer"] == pytest.approx(math.exp(5) / (math.exp(5) + len(neutral)))
    assert scores["farther"] == pytest.approx(math.exp(-5) / (math.exp(-5) + len(neutral)))
    assert scores["farther"] < scores["even"] < 0.5 < scores["closer"]


def test_each_concept_is_scored_alone_so_adding_one_leaves_the_others_unchanged():
    neutral = [0.1, 0.3, 0.2]
    alone = concept_scores({"a": 0.31}, neutral)
    together = concept_scores({"a": 0.31, "b": 0.9}, neutral)
    assert together["a"] == alone["a"] and together["b"] > 0.99


def test_the_scale_is_clips_so_a_tenth_of_cosine_is_decisive():
    assert concept_scores({"x": 0.3}, [0.2] * 8)["x"] == pytest.approx(math.exp(0.1 * LOGIT_SCALE) / (math.exp(10) + 8))
    assert concept_scores({"x": 0.3}, [0.2] * 8)["x"] > 0.999


def test_concepts_are_stripped_deduplicated_and_bounded():
    assert check_concepts([" gore ", "", "a weapon", "gore"]) == ("gore", "a weapon")
    with pytest.raises(ValueError, match="at most 20 concepts, not 21"):
        check_concepts([f"c{n}" for n in range(MAX_CONCEPTS + 1)])
    with pytest.raises(ValueError, match="at most 100 characters"):
        check_concepts(["x" * 101])
    for hostile in ("gore", None, [1, 2], {"gore": 1}):
        with pytest.raises(ValueError, match="a list of phrases"):
            check_concepts(hostile)


def test_scores_sent_back_are_taken_only_as_shares_of_the_concepts_asked():
    asked = ("gore", "a weapon")
    assert checked_scores({"gore": 0.2, "a weapon": 1, "removed since": 0.9}, asked) == {"gore": 0.2, "a weapon": 1.0}
    assert checked_scores({}, ()) == {}
    for hostile, message in (
        ({"gore": 0.2}, "no score for 'a weapon'"),
        ({"gore": 1.5, "a weapon": 0.1}, "'gore' is not a share"),
        ({"gore": float("nan"), "a weapon": 0.1}, "'gore' is not a share"),
        ({"gore": "0.1", "a weapon": 0.1}, "'gore' is not a share"),
        ({"gore": True, "a weapon": 0.1}, "'gore' is not a share"),
        ([0.1, 0.2], "not a mapping"),
    ):
        with pytest.raises(ValueError, match=message):
            checked_scores(hostile, asked)
