"""The gallery's search and likeness: what a member types reaches FTS5 only as quoted words, and likeness ranks by
cosine similarity, whatever the vectors' lengths."""

from __future__ import annotations

import numpy as np

from bot.web.catalog import match_query, rank


def test_typed_words_become_quoted_terms_and_operators_stay_words():
    assert match_query("Red castle!") == '"red" "castle"'
    assert match_query('ocean OR "x" NEAR(a b) *') == '"ocean" "or" "x" "near" "a" "b"'
    assert match_query("  ,;  ") is None


def test_likeness_ranks_by_cosine_not_by_length():
    target = np.array([1.0, 0.0, 0.0], dtype=np.float32)
    vectors = np.array([[0.0, 1.0, 0.0], [10.0, 1.0, 0.0], [0.5, 0.0, 0.01], [-1.0, 0.0, 0.0]], dtype=np.float32)
    assert rank(target, vectors).tolist() == [2, 1, 0, 3]


def test_the_top_of_the_ranking_is_the_full_rankings_top():
    vectors = np.random.default_rng(3).standard_normal((500, 16)).astype(np.float32)
    target = vectors[7] + 0.1
    full = rank(target, vectors)
    assert rank(target, vectors, 40).tolist() == full[:40].tolist()
