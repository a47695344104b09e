"""Seconds per step and peak memory of the CLIP-steered loop for every generator, with full-size random weights.

Random weights cost exactly the compute of trained ones, so no download is needed: VQGAN f16
16384 (the default generator's architecture), BigGAN-deep at its three sizes, SIREN and the
Fourier image at their default settings, each steered by open_clip ViT-B-32. Every case runs under
every ``--speeds`` setting (see engine/speed.py; the first is the reference of the ratio column)
and every ``--batches`` size, each in its own process so that peak memory is that run's own.

    python -m bench.bench_engine --steps 2                                     # plain and fast, 256 and 512
    python -m bench.bench_engine --cases vqgan:256 --speeds plain plain,+channels_last plain,+compile
    python -m bench.bench_engine --cases vqgan:256 --speeds fast --batches 1 2 4   # images per hour
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import resource
import subprocess
import sys
import time

DEFAULT_CASES = ["vqgan:256", "vqgan:512", "biggan:256", "biggan:512", "siren:256", "siren:512", "pixels:256", "pixels:512"]
IMAGE_STEPS = 300  # steps of one picture (the default request), for images per hour
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


def measure(family: str, size: int, steps: int, device_name: str, cutn: int, speed_text: str, batch: int) -> dict:
    """Time ``steps`` steps of ``batch`` dreams after one warm-up step, in this process."""
    import open_clip
    import torch

    from engine.cutouts import MakeCutouts
    from engine.generators import generator_class
    from engine.loop import Dream, Target, dream, make_optimizer
    from engine.options import DEFAULT_LR, FAMILY_OPTIONS
    from engine.perceptor import Perceptor
    from engine.pipeline import native_bf16, prepare_network, prepare_perceptor
    from engine.speed import Speed

    device = torch.device(device_name)
    speed = Speed.parse(speed_text).for_device(device.type, native_bf16(device))
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = speed.cudnn_benchmark
    torch.manual_seed(0)
    painter = generator_class(family)
    net = prepare_network(network(family, size), painter, speed, device)
    clip = open_clip.create_model("ViT-B-32", force_quick_gelu=True)
    tokenizer = open_clip.get_tokenizer("ViT-B-32")
    perceptor = prepare_perceptor(Perceptor("ViT-B-32/random", clip, tokenizer, (0.5,) * 3, (0.25,) * 3), speed, device)
    targets = [Target(perceptor.encode_text(["a magic fairy house, unreal engine"]))]
    options = {o.name: o.default for o in FAMILY_OPTIONS[family]}
    dreams = []
    for _ in range(batch):
        generator = painter(net, size, size, device, **options)
        generator.checkpoint = speed.checkpoint_for(size, size)
        optimizer = make_optimizer("adam", generator.parameters(), DEFAULT_LR[family])
        cutouts = MakeCutouts(perceptor.input_size, cutn, batched=speed.batched_cutouts)
        rng = torch.get_rng_state() if batch > 1 else None
        dreams.append(Dream(generator, targets, optimizer, cutouts, 1, report_every=10, rng=rng))

    def run(n: int) -> float:
        for d in dreams:
            d.steps = n
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        dream(dreams, perceptor, speed)
        if device.type == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter() - start

    warmup = run(1)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    seconds = run(steps) / steps
    if device.type == "cuda":
        peak = torch.cuda.max_memory_allocated() / 2**30
        machine = torch.cuda.get_device_name(device)
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
        machine = f"{_cpu_name()}, {torch.get_num_threads()} threads"
    return {
        "generator": family,
        "size": f"{size}x{size}",
        "cutn": cutn,
        "speed": speed_text,
        "effective": str(dataclasses.replace(speed, checkpoint=speed.checkpoint_for(size, size))),
        "batch": batch,
        "device": device.type,
        "machine": machine,
        "warmup_seconds": round(warmup, 2),
        "seconds_per_step": round(seconds, 4),
        "steps_per_second": round(batch / seconds, 3),
        "images_per_hour": round(3600 * batch / (seconds * IMAGE_STEPS), 2),
        "peak_memory_gib": round(peak, 2),
        "peak_memory_kind": "max allocated (CUDA)" if device.type == "cuda" else "max RSS (process)",
        "torch": torch.__version__,
    }


def bf16_probe(device_name: str) -> str:
    """One line on whether bf16 pays on this device: a 1024x1024 matmul in bf16 against float32."""
    import torch

    from engine.pipeline import native_bf16

    device = torch.device(device_name)
    a, b = torch.randn(1024, 1024, device=device), torch.randn(1024, 1024, device=device)
    times = {}
    for dtype in (torch.float32, torch.bfloat16):
        x, y = a.to(dtype), b.to(dtype)
        x @ y
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        for _ in range(5):
            x @ y
        if device.type == "cuda":
            torch.cuda.synchronize()
        times[dtype] = (time.perf_counter() - start) / 5
    ratio = times[torch.bfloat16] / times[torch.float32]
    return f"native bf16: {native_bf16(device)}; a 1024x1024 matmul takes {ratio:.2f}x the float32 time in bf16"


def ratio(row: dict, rows: list[dict]) -> str:
    """Speed-up against the reference: the first speed of the same case at batch 1 (images per hour)."""
    ref = next(r for r in rows if (r["generator"], r["size"], r["batch"]) == (row["generator"], row["size"], 1))
    return f"{row['images_per_hour'] / ref['images_per_hour']:.2f}x"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", nargs="+", default=DEFAULT_CASES, metavar="GENERATOR:SIZE")
    parser.add_argument("--speeds", nargs="+", default=["plain", "fast"], metavar="SPEED")
    parser.add_argument("--batches", nargs="+", type=int, default=[1], metavar="N")
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--cutn", type=int, default=32)
    parser.add_argument("--device", default="cuda" if _cuda() else "cpu")
    parser.add_argument("--json", metavar="PATH", help="also write the rows as JSON")
    parser.add_argument("--one", metavar="GENERATOR:SIZE:SPEED:BATCH", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        family, size, speed, batch = args.one.split(":")
        print(json.dumps(measure(family, int(size), args.steps, args.device, args.cutn, speed, int(batch))))
        return 0
    rows = []
    for case in args.cases:
        for speed in args.speeds:
            for batch in args.batches:
                one = f"{case}:{speed}:{batch}"
                cmd = [sys.executable, "-m", "bench.bench_engine", "--one", one, "--steps", str(args.steps)]
                cmd += ["--cutn", str(args.cutn), "--device", args.device]
                done = subprocess.run(cmd, capture_output=True, text=True)
                if done.returncode:
                    print(f"{one}: failed\n{done.stderr[-2000:]}", file=sys.stderr)
                    continue
                rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
                print(f"{one}: {rows[-1]['seconds_per_step']} s/step", file=sys.stderr)
    if not rows:
        return 1
    print(f"machine: {rows[0]['machine']} ({rows[0]['device']}, torch {rows[0]['torch']}); {bf16_probe(args.device)}")
    print("| generator | size | speed | in effect | batch | s/step | steps/s | images/h | peak GiB | warm-up s | ratio |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    columns = ("generator", "size", "speed", "effective", "batch", "seconds_per_step", "steps_per_second")
    columns += ("images_per_hour", "peak_memory_gib", "warmup_seconds")
    for row in rows:
        print("| " + " | ".join(str(row[c]) for c in columns) + f" | {ratio(row, rows)} |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=2)
    return 0


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            return next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor() or platform.machine()


def _cuda() -> bool:
    import torch

    return torch.cuda.is_available()


if __name__ == "__main__":
    raise SystemExit(main())
