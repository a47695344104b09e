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


async def gallery_store(tmp_path, vectors: dict[str, list[float]], channel_of: dict[str, int] | None = None):
    """A store with a finished picture per id, in channel 10 unless ``channel_of`` says, each with its embedding."""
    import json

    from bot.queue.store import Store
    from contract.protocol import RenderRequest

    store = await Store.open(tmp_path / "g.sqlite3")
    for n, (job_id, vector) in enumerate(vectors.items()):
        request = json.dumps(RenderRequest(f"picture {job_id}").to_dict())
        channel = (channel_of or {}).get(job_id, 10)
        await store.db.execute(
            "INSERT INTO jobs (id, guild_id, channel_id, user_id, user_name, request, state, created) "
            "VALUES (?, 1, ?, 3, 'x', ?, 'queued', ?)", (job_id, channel, request, float(n)),
        )  # fmt: skip
        await store.db.execute("UPDATE jobs SET state = 'done', finished = created WHERE id = ?", (job_id,))
        await store.put_embedding(job_id, "tiny-clip", np.array(vector, dtype=np.float32).tobytes())
    await store.db.commit()
    return store


async def test_likeness_ranks_what_the_pass_sees_and_only_from_a_picture_it_sees(tmp_path):
    from bot.web.catalog import Catalog, Filters

    vectors = {"a": [1, 0, 0], "b": [0.9, 0.1, 0], "c": [0, 1, 0], "h": [1, 0, 0], "odd": [1, 0]}
    store = await gallery_store(tmp_path, vectors, {"h": 99})
    try:
        catalog = Catalog(store)
        jobs, total = await catalog.pictures(1, {10}, Filters(like="a"))
        assert [job.id for job in jobs] == ["b", "c"] and total == 2, "not itself, not the hidden one, not an odd size"
        assert await catalog.pictures(1, {10}, Filters(like="h")) == ([], 0), "a hidden picture ranks nothing"
        assert await catalog.pictures(2, {10}, Filters(like="a")) == ([], 0), "nor another server's"
    finally:
        await store.close()


async def test_embeddings_are_read_once_and_new_pictures_join_them(tmp_path):
    from bot.web.catalog import Catalog, Filters

    store = await gallery_store(tmp_path, {"a": [1, 0], "b": [0.5, 0.5], "c": [0, 1]})
    try:
        catalog = Catalog(store)
        assert [job.id for job in (await catalog.pictures(1, {10}, Filters(like="a")))[0]] == ["b", "c"]
        await store.db.execute("UPDATE embeddings SET vector = ? WHERE job_id = 'c'", (np.array([1, 0], np.float32).tobytes(),))
        await store.db.commit()
        assert [job.id for job in (await catalog.pictures(1, {10}, Filters(like="a")))[0]] == ["b", "c"], "kept, not read"
        await store.db.execute(
            "INSERT INTO jobs (id, guild_id, channel_id, user_id, user_name, request, state, created) "
            "SELECT 'd', guild_id, channel_id, user_id, user_name, request, 'done', 9 FROM jobs WHERE id = 'a'"
        )  # fmt: skip
        await store.put_embedding("d", "tiny-clip", np.array([0.99, 0.01], np.float32).tobytes())
        assert [job.id for job in (await catalog.pictures(1, {10}, Filters(like="a")))[0]] == ["d", "b", "c"]
    finally:
        await store.close()


async def test_each_filter_narrows_to_its_member_model_or_channel_and_a_pass_with_no_channel_sees_nothing(tmp_path):
    from bot.web.catalog import Catalog, Filters

    store = await gallery_store(tmp_path, {"a": [1, 0], "b": [0, 1], "c": [1, 1]}, {"b": 11, "c": 11})
    try:
        await store.db.execute("UPDATE jobs SET user_id = 4 WHERE id = 'b'")
        await store.db.execute("UPDATE jobs SET request = json_set(request, '$.model', 'pixels') WHERE id = 'a'")
        await store.db.execute("UPDATE jobs SET parent = 'a' WHERE id = 'c'")
        await store.db.commit()
        catalog = Catalog(store)

        async def shown(channels: set[int], **filters) -> list[str]:
            return sorted(job.id for job in (await catalog.pictures(1, channels, Filters(**filters)))[0])

        assert await shown({10, 11}) == ["a", "b", "c"]
        assert await shown({10, 11}, member=3) == ["a", "c"]
        assert await shown({10, 11}, model="pixels") == ["a"]
        assert await shown({10, 11}, channel=11) == ["b", "c"]
        assert await shown({10, 11}, member=3, channel=11) == ["c"]
        assert await shown({10, 11}, words="picture b") == ["b"]
        assert await shown(set()) == [] and await shown({11}) == ["b", "c"]
        parent, children = await catalog.family(await store.job("c"))
        assert parent is not None and parent.id == "a" and children == []
        assert [job.id for job in (await catalog.family(await store.job("a")))[1]] == ["c"]
    finally:
        await store.close()
