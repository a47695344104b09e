"""The gallery's pages with a full database: milliseconds to make each page (the query and the HTML, as its handler
does, without the network) over PICTURES finished pictures of one server with their image embeddings, and the exact
likeness ranking in numpy alone at larger counts.

    python -m bench.bench_gallery                       # 10,000 pictures, 20 repeats of each page
    python -m bench.bench_gallery --pictures 100000 --rank 10000 100000 300000
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import random
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from bot.queue.store import Store
from bot.web import pages
from bot.web.catalog import Catalog, Filters, rank
from contract.protocol import RenderRequest

GUILD, CHANNELS, MEMBERS, DIM = 1, (10, 11, 12), 40, 512
WORDS = ["castle", "ocean", "forest", "city", "dragon", "portrait", "mountain", "river", "tower", "garden", "night", "storm"]


async def filled(path: Path, count: int) -> Store:
    """A database with ``count`` finished pictures of one server, each with its prompt and image embedding."""
    store = await Store.open(path)
    rows, vectors = [], []
    rng = random.Random(0)
    now = time.time()
    for n in range(count):
        prompt = " ".join(rng.sample(WORDS, 3)) + f" {n}"
        request = RenderRequest(prompt, model=rng.choice(["tiny-vqgan", "pixels"]), seed=n)
        job_id = f"{n:016x}"
        rows.append((job_id, GUILD, rng.choice(CHANNELS), rng.randrange(MEMBERS), "member", json.dumps(request.to_dict()),
                     "queued", now - count + n))  # fmt: skip
        vectors.append((job_id, "tiny-clip", np.random.default_rng(n).standard_normal(DIM, dtype=np.float32).tobytes()))
    db = store.db
    await db.executemany(
        "INSERT INTO jobs (id, guild_id, channel_id, user_id, user_name, request, state, created) VALUES (?,?,?,?,?,?,?,?)",
        rows,
    )
    await db.execute("UPDATE jobs SET state = 'done', started = created, finished = created + 1")  # the trigger indexes
    await db.executemany("INSERT INTO embeddings (job_id, perceptor, vector) VALUES (?, ?, ?)", vectors)
    await db.commit()
    await store.put_gallery_view(GUILD, 5, CHANNELS)
    return store


async def page_ms(catalog: Catalog, filters: Filters, repeats: int) -> tuple[float, int]:
    """The median milliseconds to make one grid page, and how many pictures matched."""
    times, total = [], 0
    for _ in range(repeats):
        start = time.perf_counter()
        channels = await catalog.visible(GUILD, 5)
        jobs, total = await catalog.pictures(GUILD, channels, filters)
        pages.grid("Lab", jobs, total, filters, {c: f"c{c}" for c in CHANNELS})
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times), total


async def picture_ms(catalog: Catalog, job_id: str, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        job = await catalog.shown(GUILD, await catalog.visible(GUILD, 5), job_id)
        assert job is not None
        parent, children = await catalog.family(job)
        pages.picture("Lab", job, "parameters", pages.dream_command(job.request, ""), False, parent, children)
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pictures", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--rank", type=int, nargs="*", default=[10_000, 100_000], help="vectors ranked in numpy alone")
    args = parser.parse_args()
    print(f"CPU: {platform.processor() or platform.machine()}; {args.pictures} pictures, {DIM}-d embeddings")
    with tempfile.TemporaryDirectory() as folder:
        store = await filled(Path(folder) / "gallery.sqlite3", args.pictures)
        catalog = Catalog(store)
        cases = {
            "grid, newest first": Filters(),
            "grid, page 50": Filters(page=50),
            "one member": Filters(member=7),
            "one model and channel": Filters(model="pixels", channel=11),
            "search 'castle dragon'": Filters(words="castle dragon"),
            "more like this": Filters(like=f"{args.pictures // 2:016x}"),
        }
        print(f"{'page':28} {'ms (median)':>12} {'matched':>8}")
        for name, filters in cases.items():
            ms, total = await page_ms(catalog, filters, args.repeats)
            print(f"{name:28} {ms:12.1f} {total:8}")
        print(f"{'a picture and its family':28} {await picture_ms(catalog, f'{args.pictures // 3:016x}', args.repeats):12.1f}")
        await store.close()
    for count in args.rank:
        vectors = np.random.default_rng(1).standard_normal((count, DIM), dtype=np.float32)
        for top, what in ((None, "all of them"), (48, "a page's 48")):
            rank(vectors[0], vectors, top)  # the first touch of the memory is not the search's
            times = []
            for _ in range(5):
                start = time.perf_counter()
                rank(vectors[0], vectors, top)
                times.append((time.perf_counter() - start) * 1000)
            print(f"rank {count} vectors in numpy alone, {what}: {statistics.median(times):.1f} ms")


if __name__ == "__main__":
    asyncio.run(main())
