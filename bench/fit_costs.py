"""The cost model against real runs: each painter's jobs rendered in this process at several sizes and cutout counts,
their measured seconds set beside ``contract/costs.py``'s prediction, and the tiny smoke-test models' entries fitted
by least squares from the same runs (``--write`` puts them in ``contract/costs.json``).

The full-size entries come from ``bench/bench_engine.py`` (seconds per step with full-size random weights, which cost
what trained ones do; docs/PERFORMANCE.md); this script checks the tiny ones, which the tests' jobs use, and prints
how far off the model is for each painter on this machine.

    python -m bench.fit_costs                  # predicted against measured, per painter
    python -m bench.fit_costs --write          # and refit the tiny models' entries
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import torch

from bench.bench_picture_check import cpu_name
from contract.costs import TABLE, predict, table
from contract.protocol import RenderRequest
from contract.registry import lookup

PAINTERS = ("pixels", "tiny-vqgan", "tiny-dvae", "siren", "clipdraw")  # resizable: fitted on pixels and pixels²
FIXED = ("tiny-biggan", "tiny-stylegan2", "tiny-stylegan3")  # one native size: a fixed cost a step
SIZES = (48, 64, 96)
CUTOUTS = (8, 24)
STEPS = 8


def measure(engine, request: RenderRequest, repeats: int) -> float:
    """The median seconds of ``repeats`` renders of ``request`` (after one that warms the caches)."""
    engine.render(request)
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        engine.render(request)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def fit(rows: list[tuple[float, float, float]], columns: int) -> list[float]:
    """Least squares of seconds per step on (1, MP, MP²)[:columns] after the perceptor's share is taken off."""
    design = torch.tensor([[1.0, mp, mp * mp][:columns] for mp, _, _ in rows], dtype=torch.float64)
    target = torch.tensor([[seconds] for _, _, seconds in rows], dtype=torch.float64)
    solution = torch.linalg.lstsq(design, target).solution[:, 0].clamp(min=0)
    return solution.tolist()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--write", action="store_true", help="refit the tiny models' entries in contract/costs.json")
    args = parser.parse_args()
    from engine.pipeline import Engine
    from engine.weights import WeightStore

    engine = Engine(WeightStore(Path(tempfile.mkdtemp(prefix="dreambot-fit-"))), "cpu")
    print(f"cpu: {cpu_name()}; torch threads: {torch.get_num_threads()}; {STEPS} steps a job, median of {args.repeats}")
    base = RenderRequest("a castle", perceptor="tiny-clip", steps=STEPS, preview_every=1000, seed=1)
    # the perceptor's cost a cutout: pixels (almost no generator) at two cutout counts
    pixels = {}
    for cutn in CUTOUTS:
        request = RenderRequest.from_dict({**base.to_dict(), "model": "pixels", "width": 48, "height": 48, "cutn": cutn})
        pixels[cutn] = measure(engine, request, args.repeats) / STEPS
    per_cutout = max(0.0, (pixels[CUTOUTS[1]] - pixels[CUTOUTS[0]]) / (CUTOUTS[1] - CUTOUTS[0]))
    print(f"tiny-clip: {per_cutout * 1000:.2f} ms a cutout a step")
    entries, report = {}, []
    for model in PAINTERS + FIXED:
        sizes = SIZES if model in PAINTERS else (None,)
        rows = []
        for side in sizes:
            for cutn in CUTOUTS:
                fields = {**base.to_dict(), "model": model, "cutn": cutn}
                side = side or lookup(model).native_size
                fields |= {"width": side, "height": side}
                request = RenderRequest.from_dict(fields)
                seconds = measure(engine, request, args.repeats)
                mp = request.width * request.height / 1e6
                rows.append((mp, cutn, seconds / STEPS - per_cutout * cutn))
                report.append((model, request.size, cutn, predict(request).seconds, seconds))
        if model.startswith("tiny-"):
            terms = fit(rows, 3 if model == "tiny-vqgan" else 2 if model in PAINTERS else 1)
            keys = ("fixed", "per_megapixel", "per_megapixel2")
            fitted = {key: round(value, 4) for key, value in zip(keys, terms, strict=False) if value}
            entries[model] = fitted | {"memory_gib": 0.5}
    print(f"{'model':<16} {'size':>7} {'cutn':>5} {'predicted s':>12} {'measured s':>11} {'ratio':>6}")
    ratios: dict[str, list[float]] = {}
    for model, size, cutn, predicted, measured in report:
        ratios.setdefault(model, []).append(measured / predicted)
        print(f"{model:<16} {size:>7} {cutn:>5} {predicted:>12.3f} {measured:>11.3f} {measured / predicted:>6.2f}")
    print("measured/predicted per painter: median (range)")
    for model, values in ratios.items():
        print(f"  {model:<16} {statistics.median(values):.2f} ({min(values):.2f}-{max(values):.2f})")
    if args.write:
        data = json.loads(TABLE.read_text(encoding="utf-8"))
        data["generators"].update(entries)
        data["perceptors"]["tiny-clip"]["per_cutout"] = round(per_cutout, 5)
        TABLE.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
        table.cache_clear()
        print(f"wrote the tiny models' entries to {TABLE}")


if __name__ == "__main__":
    main()
