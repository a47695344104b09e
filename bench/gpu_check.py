"""The one-command device check behind ``bench/gpu_check.sh``: CUDA tests, the benchmark of every family
(plain against fast, interleaved, with peak memory), a default dream end to end through ``dreambot
render`` with full-size random weights, and images per hour by batch size. It prints one table and
writes it as JSON.

On a machine without a GPU (or with ``--cpu``) it runs the same sections with small cases, so that CI
keeps every part of it working: the CUDA tests are collected and skipped, the benchmark runs the
Fourier image at 64x64 with 4 cutouts, and the end-to-end dream uses the tiny models
(tests/bench/test_gpu_check.py).

    bash bench/gpu_check.sh                      # on the GPU machine: under 8 minutes on one H100
    bash bench/gpu_check.sh --cpu --out cpu.json # the CI version
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from bench.bench_engine import ratio

ROOT = Path(__file__).resolve().parent.parent
FAMILIES = ["vqgan", "biggan", "siren", "pixels", "dvae", "clipdraw"]


@dataclass(frozen=True)
class Plan:
    """What one mode runs."""

    cases: list[str]
    batch_case: str
    batches: list[int]
    steps: int
    rounds: int
    cutn: int
    dream: list[str]  # ``dreambot render`` arguments of the end-to-end dream
    real_weights: bool  # the dream uses full-size random weights written in the official layouts


GPU = Plan(
    cases=[f"{family}:{size}" for size in (256, 512) for family in FAMILIES] + ["stylegan:256", "stylegan:512"],
    batch_case="vqgan:256",
    batches=[1, 2, 4, 8],
    steps=20,
    rounds=3,
    cutn=32,
    dream=["--model", "vqgan-imagenet-f16-16384", "--perceptor", "ViT-B-32/openai", "--size", "256x256", "--steps", "300"],
    real_weights=True,
)
CPU = Plan(
    cases=["pixels:64"],
    batch_case="pixels:64",
    batches=[1, 2],
    steps=1,
    rounds=1,
    cutn=4,
    dream=["--model", "tiny-vqgan", "--perceptor", "tiny-clip", "--size", "64x64", "--steps", "30"],
    real_weights=False,
)


@dataclass
class Report:
    mode: str
    device: str = ""
    tests: dict = field(default_factory=dict)
    benchmark: list[dict] = field(default_factory=list)
    batches: list[dict] = field(default_factory=list)
    dream: dict = field(default_factory=dict)


def run(cmd: list[str], env: dict | None = None) -> subprocess.CompletedProcess:
    print("$", " ".join(cmd), file=sys.stderr, flush=True)
    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)


def cuda_test_files() -> list[str]:
    """The test files that mark tests ``cuda``: collecting only them spares the 15-20 s of importing every
    other test module, and ``-m cuda`` still picks the tests."""
    return sorted(str(path.relative_to(ROOT)) for path in (ROOT / "tests").rglob("test_*.py") if "mark.cuda" in path.read_text())


def cuda_tests() -> dict:
    """``pytest -m cuda``: its summary line (on a CPU every test is collected and skipped)."""
    start = time.perf_counter()
    done = run([sys.executable, "-m", "pytest", "-q", "-m", "cuda", "-p", "no:cacheprovider", *cuda_test_files()])
    summary = (done.stdout.strip().splitlines() or [""])[-1]
    print(done.stdout[-3000:], file=sys.stderr)
    return {"passed": done.returncode in (0, 5), "summary": summary, "seconds": round(time.perf_counter() - start, 1)}


def bench(cases: list[str], speeds: list[str], batches: list[int], plan: Plan, device: str) -> list[dict]:
    """The benchmark's rows for ``cases`` (the variants of a case take turns in one process)."""
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        cmd = [sys.executable, "-m", "bench.bench_engine", "--cases", *cases, "--speeds", *speeds, "--device", device]
        cmd += ["--batches", *map(str, batches), "--steps", str(plan.steps), "--interleave", str(plan.rounds)]
        cmd += ["--cutn", str(plan.cutn), "--json", out.name]
        done = run(cmd)
        if done.returncode != 0:
            raise SystemExit(f"the benchmark failed:\n{done.stderr[-3000:]}")
        return json.loads(Path(out.name).read_text())


def write_random_weights(root: Path) -> None:
    """Full-size random VQGAN f16-16384 and ViT-B/32 in their official layouts: they cost what trained ones do."""
    import open_clip

    from bench.bench_engine import VQGAN_F16_16384
    from engine.networks.tiny import save_clip, save_vqgan
    from engine.weights import spec_for

    save_vqgan(spec_for("vqgan-imagenet-f16-16384").folder_in(root), VQGAN_F16_16384)
    save_clip(spec_for("ViT-B-32/openai").folder_in(root), open_clip.get_model_config("ViT-B-32"))


def dream(plan: Plan, device: str) -> dict:
    """A default dream through the CLI, timed from the command to the PNG (the first run warms the caches)."""
    with tempfile.TemporaryDirectory(prefix="dreambot-check-") as folder:
        env = {**os.environ, "XDG_CACHE_HOME": folder}
        if plan.real_weights:
            write_random_weights(Path(folder) / "dreambot" / "weights")
        cmd = [sys.executable, "-m", "bot", "render", "a magic fairy house, unreal engine", *plan.dream, "--seed", "3"]
        cmd += ["--device", device, "--out", str(Path(folder) / "dream.png"), "--json"]
        walls = []
        for _ in range(2):  # cold (imports, first kernels), then warm
            start = time.perf_counter()
            done = run(cmd, env)
            walls.append(time.perf_counter() - start)
            if done.returncode != 0:
                raise SystemExit(f"the end-to-end dream failed:\n{done.stderr[-3000:]}")
        summary = json.loads(done.stdout.strip().splitlines()[-1])
    steps = summary["steps"]
    return {
        "model": summary["model"],
        "size": f"{summary['width']}x{summary['height']}",
        "steps": steps,
        "cold_wall_s": round(walls[0], 2),
        "warm_wall_s": round(walls[1], 2),
        "loop_s": summary["seconds"],
        "steps_per_s": round(steps / summary["seconds"], 2),
    }


def table(report: Report) -> str:
    lines = [f"gpu_check ({report.mode}) on {report.device}", f"CUDA tests: {report.tests['summary']}", ""]
    lines += ["| case | speed | batch | s/step | images/h | peak GiB | ratio |", "| --- | --- | --- | --- | --- | --- | --- |"]
    for rows in (report.benchmark, report.batches):
        for row in rows:
            case = f"{row['generator']}:{row['size']}"
            lines.append(
                f"| {case} | {row['speed']} | {row['batch']} | {row['seconds_per_step']:.4f} | {row['images_per_hour']:.1f} "
                f"| {row['peak_memory_gib']:.2f} | {ratio(row, rows)} |"
            )
    d = report.dream
    lines += ["", f"end to end: {d['model']} {d['size']} {d['steps']} steps: {d['warm_wall_s']} s warm "]
    lines[-1] += f"({d['cold_wall_s']} s cold), loop {d['loop_s']} s, {d['steps_per_s']} steps/s"
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    formatter = argparse.RawTextHelpFormatter
    parser = argparse.ArgumentParser(prog="bench/gpu_check.sh", description=__doc__, formatter_class=formatter)
    parser.add_argument("--cpu", action="store_true", help="the small CPU version, even where a GPU is present")
    parser.add_argument("--out", default="gpu_check.json", help="where the JSON goes (default: %(default)s)")
    args = parser.parse_args(argv)
    import torch

    gpu = torch.cuda.is_available() and not args.cpu
    plan, device = (GPU, "cuda") if gpu else (CPU, "cpu")
    report = Report("gpu" if gpu else "cpu", torch.cuda.get_device_name() if gpu else "cpu")
    report.tests = cuda_tests()
    report.benchmark = bench(plan.cases, ["plain", "fast"], [1], plan, device)
    report.batches = bench([plan.batch_case], ["fast"], plan.batches, plan, device)
    report.dream = dream(plan, device)
    Path(args.out).write_text(json.dumps(asdict(report), indent=2))
    print(table(report))
    return 0 if report.tests["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
