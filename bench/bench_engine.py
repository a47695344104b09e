"""Seconds per step and peak memory of the VQGAN+CLIP loop with full-size random-weight models.

Random weights cost exactly the compute of trained ones, so no download is needed:
VQGAN f16 16384 (the default generator's architecture) and open_clip ViT-B-32. Each size runs in
its own process so that peak memory is that size's own.

    python -m bench.bench_engine --sizes 256 512 --steps 3 --device cpu --json bench/results/cpu.json
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import subprocess
import sys
import time

VQGAN_F16_16384 = {
    "model": {
        "target": "taming.models.vqgan.VQModel",
        "params": {
            "embed_dim": 256,
            "n_embed": 16384,
            "ddconfig": {
                "double_z": False,
                "z_channels": 256,
                "resolution": 256,
                "in_channels": 3,
                "out_ch": 3,
                "ch": 128,
                "ch_mult": [1, 1, 2, 2, 4],
                "num_res_blocks": 2,
                "attn_resolutions": [16],
                "dropout": 0.0,
            },
        },
    }
}


def measure(size: int, steps: int, device_name: str, cutn: int) -> dict:
    """Run ``steps`` timed steps (after one warm-up step) in this process."""
    import open_clip
    import torch
    import yaml

    from engine.cutouts import MakeCutouts
    from engine.generators import VQGANGenerator
    from engine.loop import Target, dream, make_optimizer
    from engine.perceptor import Perceptor
    from engine.vqgan import VQGAN, VQGANConfig

    device = torch.device(device_name)
    torch.manual_seed(0)
    net = VQGAN(VQGANConfig.from_yaml(yaml.safe_dump(VQGAN_F16_16384))).eval().requires_grad_(False).to(device)
    clip = open_clip.create_model("ViT-B-32", force_quick_gelu=True)
    perceptor = Perceptor("ViT-B-32/random", clip, open_clip.get_tokenizer("ViT-B-32"), (0.5,) * 3, (0.25,) * 3).to(device)
    targets = [Target(perceptor.encode_text(["a magic fairy house, unreal engine"]))]
    generator = VQGANGenerator(net, size, size, device)
    make_cutouts = MakeCutouts(perceptor.input_size, cutn)
    optimizer = make_optimizer("adam", generator.parameters(), 0.1)

    def run(n: int) -> float:
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        dream(generator, perceptor, targets, make_cutouts, optimizer, n)
        if device.type == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter() - start

    run(1)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    seconds = run(steps) / steps
    if device.type == "cuda":
        peak = torch.cuda.max_memory_allocated() / 2**30
        machine = torch.cuda.get_device_name(device)
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
        machine = f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads"
    return {
        "size": f"{size}x{size}",
        "cutn": cutn,
        "device": device.type,
        "machine": machine,
        "seconds_per_step": round(seconds, 4),
        "steps_per_second": round(1 / seconds, 3),
        "peak_memory_gib": round(peak, 2),
        "peak_memory_kind": "max allocated (CUDA)" if device.type == "cuda" else "max RSS (process)",
        "torch": torch.__version__,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 512])
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--cutn", type=int, default=32)
    parser.add_argument("--device", default="cuda" if _cuda() else "cpu")
    parser.add_argument("--json", metavar="PATH", help="also write the rows as JSON")
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure(args.one, args.steps, args.device, args.cutn)))
        return 0
    rows = []
    for size in args.sizes:
        cmd = [sys.executable, "-m", "bench.bench_engine", "--one", str(size), "--steps", str(args.steps)]
        cmd += ["--cutn", str(args.cutn), "--device", args.device]
        done = subprocess.run(cmd, capture_output=True, text=True, check=True)
        rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
    print(f"machine: {rows[0]['machine']} ({rows[0]['device']}, torch {rows[0]['torch']})")
    print("| size | cutouts | s/step | steps/s | peak memory (GiB) |")
    print("| --- | --- | --- | --- | --- |")
    columns = ("size", "cutn", "seconds_per_step", "steps_per_second", "peak_memory_gib")
    for row in rows:
        print("| " + " | ".join(str(row[c]) for c in columns) + " |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=2)
    return 0


def _cuda() -> bool:
    import torch

    return torch.cuda.is_available()


if __name__ == "__main__":
    raise SystemExit(main())
