"""CLIP interrogation: phrases ranked by the perceptor's own similarity (one computed here by hand), prompts made
of the best, and each vocabulary's embeddings made once per perceptor and kept on disk."""

from __future__ import annotations

import pytest
from PIL import Image

from engine.describe import PROMPTS, VOCABULARIES, Describer, prompts, vocabulary

PICTURE = Image.effect_noise((40, 30), 70).convert("RGB")


def picture() -> Image.Image:
    return PICTURE


def test_phrases_are_ranked_by_the_perceptors_similarity_to_the_picture(engine):
    described = engine.describer("tiny-clip").describe(picture(), top=5)
    assert list(described.ranked) == list(VOCABULARIES)
    for phrases in described.ranked.values():
        scores = [p.score for p in phrases]
        assert len(phrases) == 5 and scores == sorted(scores, reverse=True)
    perceptor, scorer = engine.perceptor("tiny-clip"), engine.concept_scorer("tiny-clip")
    best = described.ranked["artists"][0]
    by_hand = float(perceptor.encode_text([best.text])[0] @ scorer.image_embed(picture()))
    assert best.score == pytest.approx(by_hand, abs=1e-5)
    everyone = [float(perceptor.encode_text([a])[0] @ scorer.image_embed(picture())) for a in vocabulary("artists")]
    assert best.score == pytest.approx(max(everyone), abs=1e-5), "no artist is closer than the first"


def test_the_prompts_join_the_best_medium_movement_artists_and_flavours():
    from engine.describe import Phrase

    ranked = {name: [Phrase(f"{name}{i}", 1.0 - i / 10) for i in range(8)] for name in VOCABULARIES}
    made = prompts(ranked)
    assert len(made) == PROMPTS and len(set(made)) == PROMPTS
    assert made[0] == "mediums0, movements0, by artists0, flavours0, flavours1"
    assert made[3] == "mediums1, movements1, by artists3, flavours6, flavours7"


def test_each_vocabulary_is_embedded_once_per_perceptor_and_read_back_from_disk(engine, tmp_path):
    scorer = engine.concept_scorer("tiny-clip")
    encoded: list[int] = []
    real = scorer.perceptor.encode_text

    class Counting:
        def __getattr__(self, name):
            return getattr(scorer.perceptor, name)

        def encode_text(self, texts):
            encoded.append(len(texts))
            return real(texts)

    counting = type(scorer)(Counting(), scorer.device)
    first = Describer(counting, "tiny-clip", tmp_path).describe(picture())
    assert sum(encoded) == sum(len(vocabulary(name)) for name in VOCABULARIES)
    assert len(list((tmp_path / "describe" / "tiny-clip").glob("*.safetensors"))) == len(VOCABULARIES)
    encoded.clear()
    again = Describer(counting, "tiny-clip", tmp_path).describe(picture())
    assert encoded == [] and again == first, "read from the disk, the same ranking"
    (next((tmp_path / "describe" / "tiny-clip").glob("artists-*.safetensors"))).write_bytes(b"cut")
    assert Describer(counting, "tiny-clip", tmp_path).describe(picture()) == first and encoded, "a cut file is made again"
