"""``dreambot usage model``: the cost model's predictions against the engine time the ledger measured, job by job
and model by model, so an owner sees how far off the model is on their machine (``contract/costs.py``)."""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
from collections import defaultdict

from bot.config import Config
from contract.costs import SAMPLES, pace, predict
from contract.errors import BadRequest


def add_commands(commands: argparse._SubParsersAction, parent: argparse.ArgumentParser) -> None:
    usage = commands.add_parser("usage", parents=[parent], help="what the bot's jobs cost")
    actions = usage.add_subparsers(dest="action", required=True)
    model = actions.add_parser("model", parents=[parent], help="predicted against measured engine seconds of the last jobs")
    model.add_argument("--last", type=int, default=20, help="how many of the latest jobs (default 20)")
    model.add_argument("--json", action="store_true", help="one JSON object per job, then one per model")
    usage.set_defaults(handler=cmd_usage)


def cmd_usage(args: argparse.Namespace, config: Config) -> int:
    if not 1 <= args.last <= 10_000:
        raise BadRequest("--last is from 1 to 10000")
    return asyncio.run(_model(args, config))


async def _model(args: argparse.Namespace, config: Config) -> int:
    from bot.queue.store import Store

    store = await Store.open(config.storage.path)
    try:
        charges = await store.charges(max(args.last, SAMPLES))
        jobs = {charge.job_id: await store.job(charge.job_id) for charge in charges[: args.last]}
    finally:
        await store.close()
    speed = pace((c.predicted, c.seconds) for c in charges)
    rows = []
    for charge in charges[: args.last]:
        job = jobs[charge.job_id]
        if job is None:
            continue
        predicted = predict(job.request).seconds * speed
        rows.append({
            "job": job.id, "kind": job.request.kind.name, "model": job.request.model, "size": job.request.size,
            "steps": job.request.total_steps, "state": job.state.value, "predicted_s": round(predicted, 2),
            "measured_s": round(charge.seconds, 2), "ratio": round(charge.seconds / predicted, 3) if predicted else None,
            "predicted_gib": round(charge.predicted_gib, 2), "peak_gib": round(charge.peak_gib, 2),
            "worker": charge.worker or "local",
        })  # fmt: skip
    by_model: dict[str, list[float]] = defaultdict(list)
    for row in rows:
        if row["ratio"] is not None and row["state"] == "done":
            by_model[row["model"]].append(row["ratio"])
    if args.json:
        for row in rows:
            print(json.dumps(row))
        for model, ratios in by_model.items():
            print(json.dumps({"model": model, "jobs": len(ratios), "median_ratio": round(statistics.median(ratios), 3)}))
        return 0
    print(f"pace of this bot's executor: {speed:.3g}x the cost table's machine (median of the last {len(charges)} jobs)")
    print(f"{'job':<17} {'kind':<9} {'model':<26} {'size':>9} {'steps':>6} {'predicted s':>12} {'measured s':>11} "
          f"{'ratio':>6} {'GiB predicted':>14} {'GiB peak':>9}")  # fmt: skip
    for row in rows:
        ratio = f"{row['ratio']:.2f}" if row["ratio"] is not None else "-"
        print(f"{row['job']:<17} {row['kind']:<9} {row['model']:<26} {row['size']:>9} {row['steps']:>6} "
              f"{row['predicted_s']:>12.1f} {row['measured_s']:>11.1f} {ratio:>6} {row['predicted_gib']:>14.2f} "
              f"{row['peak_gib'] or '-':>9}")  # fmt: skip
    for model, ratios in sorted(by_model.items()):
        print(f"{model}: {len(ratios)} finished jobs, measured/predicted median {statistics.median(ratios):.2f}")
    if not rows:
        print("no job has been charged yet")
    return 0
