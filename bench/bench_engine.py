"""Seconds per step and peak memory of the CLIP-steered loop for every generator, with full-size random weights.

Random weights cost exactly the compute of trained ones, so no download is needed: VQGAN f16
16384 (the default generator's architecture), BigGAN-deep at its three sizes, SIREN and the
Fourier image at their default settings, each steered by open_clip ViT-B-32. Each case runs in its
own process so that peak memory is that case's own.

    python -m bench.bench_engine --cases vqgan:256 biggan:256 siren:256 pixels:256 --steps 2 --device cpu
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import subprocess
import sys
import time

DEFAULT_CASES = ["vqgan:256", "biggan:128", "biggan:256", "biggan:512", "siren:256", "pixels:256", "vqgan:512"]
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


# BigGAN-deep-512's residual blocks (upsample, in, out channel multipliers); the 256 model has the
# first twelve, and the 128 model is the library's default config.
_DEEP_512 = [(False, 16, 16), (True, 16, 16), (False, 16, 16), (True, 16, 8), (False, 8, 8), (True, 8, 8), (False, 8, 8)]
_DEEP_512 += [(True, 8, 4), (False, 4, 4), (True, 4, 2), (False, 2, 2), (True, 2, 1), (False, 1, 1), (True, 1, 1)]


def biggan_deep(side: int) -> dict:
    from pytorch_pretrained_biggan import BigGANConfig

    config = BigGANConfig().to_dict()  # the 128x128 model
    if side > 128:
        config.update(output_dim=side, layers=_DEEP_512[: {256: 12, 512: 14}[side]])
    return config


def network(family: str, size: int):
    """The full-size network of ``family`` with random weights (None for painters without one)."""
    import yaml

    if family == "vqgan":
        from engine.vqgan import VQGAN, VQGANConfig

        return VQGAN(VQGANConfig.from_yaml(yaml.safe_dump(VQGAN_F16_16384))).eval().requires_grad_(False)
    if family == "biggan":
        from engine import biggan, tiny

        return biggan.freeze(tiny.random_biggan(biggan_deep(size)))
    return None


def measure(family: str, size: int, steps: int, device_name: str, cutn: int) -> dict:
    """Run ``steps`` timed steps (after one warm-up step) in this process."""
    import open_clip
    import torch

    from engine.cutouts import MakeCutouts
    from engine.generators import generator_class
    from engine.loop import Target, dream, make_optimizer
    from engine.options import DEFAULT_LR, FAMILY_OPTIONS
    from engine.perceptor import Perceptor

    device = torch.device(device_name)
    torch.manual_seed(0)
    net = network(family, size)
    clip = open_clip.create_model("ViT-B-32", force_quick_gelu=True)
    perceptor = Perceptor("ViT-B-32/random", clip, open_clip.get_tokenizer("ViT-B-32"), (0.5,) * 3, (0.25,) * 3).to(device)
    targets = [Target(perceptor.encode_text(["a magic fairy house, unreal engine"]))]
    options = {o.name: o.default for o in FAMILY_OPTIONS[family]}
    generator = generator_class(family)(net if net is None else net.to(device), size, size, device, **options)
    make_cutouts = MakeCutouts(perceptor.input_size, cutn)
    optimizer = make_optimizer("adam", generator.parameters(), DEFAULT_LR[family])

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
        "generator": family,
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
    parser.add_argument("--cases", nargs="+", default=DEFAULT_CASES, metavar="GENERATOR:SIZE")
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--cutn", type=int, default=32)
    parser.add_argument("--device", default="cuda" if _cuda() else "cpu")
    parser.add_argument("--json", metavar="PATH", help="also write the rows as JSON")
    parser.add_argument("--one", metavar="GENERATOR:SIZE", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        family, size = args.one.split(":")
        print(json.dumps(measure(family, int(size), args.steps, args.device, args.cutn)))
        return 0
    rows = []
    for case in args.cases:
        cmd = [sys.executable, "-m", "bench.bench_engine", "--one", case, "--steps", str(args.steps)]
        cmd += ["--cutn", str(args.cutn), "--device", args.device]
        done = subprocess.run(cmd, capture_output=True, text=True, check=True)
        rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
        print(f"{case}: {rows[-1]['seconds_per_step']} s/step", file=sys.stderr)
    print(f"machine: {rows[0]['machine']} ({rows[0]['device']}, torch {rows[0]['torch']})")
    print("| generator | size | cutouts | s/step | steps/s | peak memory (GiB) |")
    print("| --- | --- | --- | --- | --- | --- |")
    columns = ("generator", "size", "cutn", "seconds_per_step", "steps_per_second", "peak_memory_gib")
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
