"""``bench/gpu_check.sh`` in its CPU mode, as CI runs it: every section runs and lands in the JSON."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_device_check_runs_every_section_on_a_cpu(tmp_path):
    out = tmp_path / "check.json"
    done = subprocess.run(
        ["bash", "bench/gpu_check.sh", "--cpu", "--out", str(out)],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "PYTHON": sys.executable, "HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(out.read_text())
    assert report["mode"] == "cpu" and "skipped" in report["tests"]["summary"], "the CUDA tests are collected, and skip"
    assert [(r["generator"], r["speed"]) for r in report["benchmark"]] == [("pixels", "plain"), ("pixels", "fast")]
    assert [r["batch"] for r in report["batches"]] == [1, 2]
    assert all(r["seconds_per_step"] > 0 and r["peak_memory_gib"] > 0 for r in report["benchmark"] + report["batches"])
    assert report["dream"]["steps"] == 30 and report["dream"]["steps_per_s"] > 0
    assert "| pixels:64x64 | fast | 2 |" in done.stdout and "end to end: tiny-vqgan 64x64 30 steps" in done.stdout


def test_the_gpu_mode_writes_its_random_weights_where_the_engine_reads_them(tmp_path, monkeypatch):
    """The GPU mode's full-size weights (too large to write in a test: recorded, not written) go to the folders
    the engine's weights store reads for those names. It looked perceptors up among registered models once,
    which would have failed on the first lent GPU."""
    import engine.networks.tiny as tiny
    from bench.gpu_check import write_random_weights
    from engine.weights import spec_for

    written: list[Path] = []
    monkeypatch.setattr(tiny, "save_vqgan", lambda folder, config: written.append(folder))
    monkeypatch.setattr(tiny, "save_clip", lambda folder, config: written.append(folder))
    write_random_weights(tmp_path)
    assert written == [spec_for(name).folder_in(tmp_path) for name in ("vqgan-imagenet-f16-16384", "ViT-B-32/openai")]
