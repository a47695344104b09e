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
from contract.costs import TABLE, CostTable, predict, table
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
    """Least squares of seconds per step (the perceptor's share taken off) on (1, MP, MP²)[:columns]."""
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
    measured: dict[tuple[str, int, int], float] = {}  # (model, side, cutn) -> seconds a step
    report = []
    for model in PAINTERS + FIXED:
        for side in SIZES if model in PAINTERS else (lookup(model).native_size,):
            for cutn in CUTOUTS:
                fields = {**base.to_dict(), "model": model, "cutn": cutn, "width": side, "height": side}
                request = RenderRequest.from_dict(fields)
                seconds = measure(engine, request, args.repeats)
                measured[(model, side, cutn)] = seconds / STEPS
                report.append((request, seconds))
    # the perceptor's cost a cutout: the median over every painter and size of the step's growth with the cutouts
    few, many = CUTOUTS
    growth = [(measured[(m, s, many)] - measured[(m, s, few)]) / (many - few) for m, s, c in measured if c == few]
    per_cutout = max(0.0, statistics.median(growth))
    print(f"tiny-clip: {per_cutout * 1000:.2f} ms a cutout a step (median of {len(growth)} pairs)")
    entries = {}
    for model in (m for m in PAINTERS + FIXED if m.startswith("tiny-")):
        rows = [(s * s / 1e6, c, t - per_cutout * c) for (m, s, c), t in measured.items() if m == model]
        terms = fit(rows, 3 if model == "tiny-vqgan" else 2 if model in PAINTERS else 1)
        keys = ("fixed", "per_megapixel", "per_megapixel2")
        fitted = {key: round(value, 4) for key, value in zip(keys, terms, strict=False) if value}
        entries[model] = fitted | {"memory_gib": 0.5}
    data = json.loads(TABLE.read_text(encoding="utf-8"))
    data["generators"].update(entries)
    data["perceptors"]["tiny-clip"]["per_cutout"] = round(per_cutout, 5)
    refitted = CostTable.from_dict(data)  # the tiny models' entries as fitted here; the full-size ones as measured
    print(f"{'model':<16} {'size':>7} {'cutn':>5} {'predicted s':>12} {'measured s':>11} {'ratio':>6}")
    ratios: dict[str, list[float]] = {}
    for request, seconds in report:
        predicted = predict(request, refitted).seconds
        ratios.setdefault(request.model, []).append(seconds / predicted)
        print(f"{request.model:<16} {request.size:>7} {request.cutn:>5} {predicted:>12.3f} {seconds:>11.3f} "
              f"{seconds / predicted:>6.2f}")  # fmt: skip
    print("measured/predicted per painter: median (range)")
    for model, values in ratios.items():
        print(f"  {model:<16} {statistics.median(values):.2f} ({min(values):.2f}-{max(values):.2f})")
    if args.write:
        TABLE.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
        table.cache_clear()
        print(f"wrote the tiny models' entries to {TABLE}")


if __name__ == "__main__":
    main()
