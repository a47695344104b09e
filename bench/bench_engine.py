"""Seconds per step and peak memory of the CLIP-steered loop for every generator, with full-size random weights.

Random weights cost exactly the compute of trained ones, so no download is needed: VQGAN f16
16384 (the default generator's architecture), BigGAN-deep at its three sizes, DALL·E's dVAE, SIREN,
the Fourier image and CLIPDraw at their default settings, each steered by open_clip ViT-B-32 (or
ViT-B-32+ViT-B-16 for the ensemble case); and DeepDream's step on InceptionV1 (``deepdream``). Every case runs under
every ``--speeds`` setting (see engine/speed.py; the first is the reference of the ratio column)
and every ``--batches`` size. By default each of these variants runs in its own process, so that
peak memory is its own. With ``--interleave R`` the variants of a case share one process and take
turns for R rounds (the median round counts): a shared machine's speed drifts by 10% and more
between processes, and taking turns makes the ratios immune to that.

    python -m bench.bench_engine --steps 2                                      # plain and fast, 256 and 512
    python -m bench.bench_engine --cases vqgan:256 --speeds plain plain,+channels_last fast --interleave 3
    python -m bench.bench_engine --cases vqgan:256 --speeds fast --batches 1 2 4 --interleave 3   # images/hour
    python -m bench.bench_engine --cases vqgan:256 vqgan-codebook:256 --speeds fast --interleave 2    # codebook sampling
    python -m bench.bench_engine --cases dvae:256 clipdraw:256 vqgan-ensemble:256 deepdream:256 --speeds fast
    python -m bench.bench_engine --cases stylegan:1024 --speeds fast --steps 1                 # StyleGAN2 FFHQ
    python -m bench.bench_engine --cases stylegan:256 stylegan:512 --speeds fast --steps 1     # StyleGAN3-T, -R
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from contract.limits import DEFAULT_OPTIMIZER, DEFAULT_STEPS

if TYPE_CHECKING:
    from contract.speed import Speed
    from engine.loop import Optimization

DEFAULT_CASES = ["vqgan:256", "vqgan:512", "biggan:256", "biggan:512", "siren:256", "siren:512", "pixels:256", "pixels:512"]
# A case name for a family run with other options or other perceptors than ViT-B-32 alone.
VARIANTS = {
    "vqgan-codebook": ("vqgan", {"sampling": "codebook"}, ("ViT-B-32",)),
    "vqgan-ensemble": ("vqgan", {}, ("ViT-B-32", "ViT-B-16")),
}
IMAGE_STEPS = DEFAULT_STEPS  # steps of one picture (the default request), for images per hour
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


# stylegan2-ada-pytorch's ffhq.pkl (1024x1024), as its G_ema records its arguments.
STYLEGAN2_FFHQ = {
    "z_dim": 512,
    "c_dim": 0,
    "w_dim": 512,
    "img_resolution": 1024,
    "img_channels": 3,
    "mapping_kwargs": {"num_layers": 8},
    "synthesis_kwargs": {"channel_base": 32768, "channel_max": 512, "num_fp16_res": 4, "conv_clamp": 256},
}
# stylegan3's stylegan3-t-ffhqu-256x256.pkl and stylegan3-r-afhqv2-512x512.pkl, as docs/configs.md trains them.
_STYLEGAN3 = {"z_dim": 512, "c_dim": 0, "w_dim": 512, "img_channels": 3, "mapping_kwargs": {"num_layers": 2}}
_STYLEGAN3 |= {"num_fp16_res": 4, "conv_clamp": 256}
STYLEGAN3_T_FFHQU_256 = _STYLEGAN3 | {"img_resolution": 256, "channel_base": 16384, "channel_max": 512}
STYLEGAN3_R_AFHQV2_512 = _STYLEGAN3 | {"img_resolution": 512, "channel_base": 65536, "channel_max": 1024}
STYLEGAN3_R_AFHQV2_512 |= {"conv_kernel": 1, "use_radial_filters": True}


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
        from engine.networks.vqgan import VQGAN, VQGANConfig

        return VQGAN(VQGANConfig.from_yaml(yaml.safe_dump(VQGAN_F16_16384))).eval().requires_grad_(False)
    if family == "biggan":
        from engine.networks import biggan, tiny

        return biggan.freeze(tiny.random_biggan(biggan_deep(size)))
    if family == "stylegan":  # each official model at its own size
        from engine.networks import stylegan2, stylegan3

        if size == 1024:
            return stylegan2.Generator(**STYLEGAN2_FFHQ).eval().requires_grad_(False)
        config = {256: STYLEGAN3_T_FFHQU_256, 512: STYLEGAN3_R_AFHQV2_512}[size]
        return stylegan3.Generator(**config).eval().requires_grad_(False)
    if family == "dvae":
        from engine.networks.dvae import DVAE, random_pair

        return DVAE(*random_pair(vocab_size=8192, n_hid=256, n_init=128, blocks=2)).eval().requires_grad_(False)
    return None


@dataclasses.dataclass
class Rig:
    """What every variant of a case shares in one process: the network, the perceptor and its prompt target, the
    painter and its options; and how a variant's steps are run and timed."""

    family: str
    size: int
    cutn: int
    device: Any  # torch.device
    net: Any  # the family's network, or None (pixels, SIREN, CLIPDraw)
    perceptor: Any
    targets: list
    painter: Callable
    options: dict
    lr: float

    @property
    def cuda(self) -> bool:
        return self.device.type == "cuda"

    def optimizations(self, speed: Speed, batch: int) -> list[Optimization]:
        import torch

        from engine.cutouts import MakeCutouts
        from engine.loop import Optimization, make_optimizer

        optimizations = []
        for _ in range(batch):
            generator = self.painter(self.net, self.size, self.size, self.device, **self.options)
            generator.checkpoint = speed.checkpoint_for(self.size, self.size)
            optimizer = make_optimizer(DEFAULT_OPTIMIZER, generator.parameters(), self.lr)
            cutouts = MakeCutouts(self.perceptor.input_size, self.cutn, batched=speed.batched_cutouts)
            rng = torch.get_rng_state() if batch > 1 else None
            optimizations.append(Optimization(generator, self.targets, optimizer, cutouts, 1, report_every=10, rng=rng))
        return optimizations

    def clock(self) -> float:
        """Now, once the device has finished what was queued."""
        import torch

        if self.cuda:
            torch.cuda.synchronize()
        return time.perf_counter()

    def run(self, speed: Speed, optimizations: list[Optimization], n: int) -> float:
        """Seconds of ``n`` steps of ``optimizations`` under ``speed``."""
        import torch

        from engine.loop import optimize

        if self.net is not None:  # the layout is the one switch that lives in the shared network
            self.net.to(memory_format=torch.channels_last if speed.channels_last else torch.contiguous_format)
        for o in optimizations:
            o.steps = n
        if self.cuda:
            torch.backends.cudnn.benchmark = speed.cudnn_benchmark
            torch.cuda.reset_peak_memory_stats()
        start = self.clock()
        optimize(optimizations, self.perceptor, speed)
        return self.clock() - start

    def alone(self, speed: Speed, optimizations: list[Optimization]) -> tuple[float, float]:
        """Seconds of the decoder's and of CLIP's forward and backward passes alone, as a step runs them."""
        import torch

        generators = [o.generator for o in optimizations]
        start = self.clock()
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=speed.autocast):
            images = type(generators[0]).decode_batch(generators)
        images.float().sum().backward()
        decoder = self.clock() - start
        cutouts = torch.cat([o.cut(images[i : i + 1].detach().float()) for i, o in enumerate(optimizations)])
        cutouts.requires_grad_(True)
        start = self.clock()
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=speed.autocast):
            embeds = self.perceptor.encode_image(cutouts)
        embeds.float().sum().backward()
        return decoder, self.clock() - start

    def profile(self, path: str, effective: list[str], speeds: list[Speed], runs: list[list[Optimization]]) -> None:
        """Append each variant's profile of one more step (its ops by own CPU time) to ``path``."""
        import torch

        with open(path, "a") as out:
            for text, speed, optimizations in zip(effective, speeds, runs, strict=True):
                with torch.profiler.profile(record_shapes=True) as prof:
                    self.run(speed, optimizations, 1)
                table = prof.key_averages(group_by_input_shape=True).table(sort_by="self_cpu_time_total", row_limit=25)
                out.write(f"## {self.family}:{self.size} {text}\n{table}\n")


def rig(family: str, size: int, cutn: int, speed: Speed, device) -> Rig:
    """The case's network and perceptor, prepared for ``speed`` (the first variant's) on ``device``."""
    import open_clip

    from contract.families import FAMILIES, load_attribute
    from engine.loop import Target
    from engine.models import prepare_network, prepare_perceptor
    from engine.perceptor import Ensemble, Perceptor

    base, options, clips = VARIANTS.get(family, (family, {}, ("ViT-B-32",)))
    record = FAMILIES[base]
    net = network(base, size)
    if net is not None:
        net = prepare_network(net, record.network, speed, device)
    members = [
        prepare_perceptor(
            Perceptor(
                open_clip.create_model(name, force_quick_gelu=True), open_clip.get_tokenizer(name), (0.5,) * 3, (0.25,) * 3
            ),
            speed,
            device,
        )
        for name in clips
    ]
    perceptor = members[0] if len(members) == 1 else Ensemble(members)
    targets = [Target(perceptor.encode_text(["a magic fairy house, unreal engine"]))]
    options = {o.name: o.default for o in record.options} | options
    painter = load_attribute(record.painter)
    return Rig(family, size, cutn, device, net, perceptor, targets, painter, options, record.learning_rate(None, options))


def measure(
    family: str, size: int, variants: list[tuple[str, int]], steps: int, rounds: int, device_name: str, cutn: int,
    profile: str | None = None, shares: bool = False,
):  # fmt: skip
    """Time every ``(speed, batch)`` variant in this process: one warm-up step each, then ``rounds``
    rounds in which the variants take turns running ``steps`` steps; a variant's median round counts.
    ``profile``: a file that gets each variant's profile of one more step (its ops by own CPU time).
    ``shares``: also time the decoder's and CLIP's passes alone in each round, so that the rest of the
    step (cutouts, augmentations, loss, optimizer, Python) shows as ``elsewhere_share``."""
    import torch

    from engine.models import device_speed

    device = torch.device(device_name)
    speeds = [device_speed(text, device) for text, _ in variants]
    if len({speed.compile for speed in speeds}) > 1:
        raise SystemExit("a compiled module cannot be uncompiled: measure +compile and its reference without --interleave")
    torch.manual_seed(0)
    if VARIANTS.get(family, (family,))[0] == "deepdream":
        return measure_dream(size, variants, steps, rounds, device)
    case = rig(family, size, cutn, speeds[0], device)
    runs = [case.optimizations(speed, batch) for speed, (_, batch) in zip(speeds, variants, strict=True)]
    warmups = [case.run(speed, optimizations, 1) for speed, optimizations in zip(speeds, runs, strict=True)]
    times: list[list[float]] = [[] for _ in variants]
    parts: list[list[tuple[float, float]]] = [[] for _ in variants]
    peaks = [0.0] * len(variants)
    for _ in range(rounds):
        for i, (speed, optimizations) in enumerate(zip(speeds, runs, strict=True)):
            times[i].append(case.run(speed, optimizations, steps) / steps)
            if shares:
                parts[i].append(case.alone(speed, optimizations))
            if case.cuda:
                peaks[i] = max(peaks[i], torch.cuda.max_memory_allocated() / 2**30)
    effective = [str(dataclasses.replace(speed, checkpoint=speed.checkpoint_for(size, size))) for speed in speeds]
    if profile:
        case.profile(profile, effective, speeds, runs)
    rows = _rows(family, size, cutn, variants, effective, times, warmups, peaks, rounds, device)
    for row, measured in zip(rows, parts, strict=True):
        if measured:
            decoder, clip = (statistics.median(p[k] for p in measured) for k in (0, 1))
            row |= {"decoder_seconds": round(decoder, 4), "clip_seconds": round(clip, 4)}
            row["elsewhere_share"] = round(1 - (decoder + clip) / row["seconds_per_step"], 3)
    return rows


def measure_dream(size: int, variants: list[tuple[str, int]], steps: int, rounds: int, device) -> list[dict]:
    """DeepDream's step (layer inception4c, jitter 32) on a full-size InceptionV1 with random weights; it has no
    speed switches, so every variant runs the same plain step."""
    import torch

    from contract.deepdream import dream_options
    from engine.deepdream import _step
    from engine.networks.inception import Dreamer, build, random_state

    dreamer = Dreamer(build(random_state())).to(device)
    options = dream_options({})
    jitter = torch.Generator().manual_seed(0)
    x = torch.rand(1, 3, size, size, device=device)

    def run(n: int) -> float:
        nonlocal x
        if device.type == "cuda":
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
        start = time.perf_counter()
        for _ in range(n):
            x, _ = _step(dreamer, x, options, jitter, None)
        return time.perf_counter() - start

    warmups = [run(1) for _ in variants]
    times: list[list[float]] = [[] for _ in variants]
    peaks = [0.0] * len(variants)
    for _ in range(rounds):
        for i in range(len(variants)):
            times[i].append(run(steps) / steps)
            if device.type == "cuda":
                peaks[i] = max(peaks[i], torch.cuda.max_memory_allocated() / 2**30)
    return _rows("deepdream", size, 0, variants, ["plain"] * len(variants), times, warmups, peaks, rounds, device)


def _rows(family, size, cutn, variants, effective, times, warmups, peaks, rounds, device) -> list[dict]:
    """One row of figures per variant."""
    import torch

    if device.type == "cuda":
        machine, memory_kind = torch.cuda.get_device_name(device), "max allocated (CUDA)"
    else:
        machine = f"{cpu_name()}, {torch.get_num_threads()} threads"
        peaks = [resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20] * len(variants)
        memory_kind = "max RSS (process)" if len(variants) == 1 else "max RSS (process, shared by its variants)"
    rows = []
    for (text, batch), in_effect, seconds, warmup, peak in zip(variants, effective, times, warmups, peaks, strict=True):
        step = statistics.median(seconds)
        rows.append(
            {
                "generator": family,
                "size": f"{size}x{size}",
                "cutn": cutn,
                "speed": text,
                "effective": in_effect,
                "batch": batch,
                "device": device.type,
                "machine": machine,
                "rounds": rounds,
                "round_seconds_per_step": [round(t, 4) for t in seconds],
                "warmup_seconds": round(warmup, 2),
                "seconds_per_step": round(step, 4),
                "steps_per_second": round(batch / step, 3),
                "images_per_hour": round(3600 * batch / (step * IMAGE_STEPS), 2),
                "peak_memory_gib": round(peak, 2),
                "peak_memory_kind": memory_kind,
                "torch": torch.__version__,
            }
        )
    return rows


def bf16_probe(device_name: str) -> str:
    """One line on whether bf16 pays on this device: a 1024x1024 matmul in bf16 against float32."""
    import torch

    from engine.models import native_bf16

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
    """Images per hour against the case's first row (its first speed and batch size)."""
    ref = next(r for r in rows if (r["generator"], r["size"]) == (row["generator"], row["size"]))
    return f"{row['images_per_hour'] / ref['images_per_hour']:.2f}x"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", nargs="+", default=DEFAULT_CASES, metavar="GENERATOR:SIZE")
    parser.add_argument("--speeds", nargs="+", default=["plain", "fast"], metavar="SPEED")
    parser.add_argument("--batches", nargs="+", type=int, default=[1], metavar="N")
    parser.add_argument("--steps", type=int, default=3, help="timed steps per round")
    parser.add_argument("--interleave", type=int, default=0, metavar="ROUNDS", help="variants of a case share a process")
    parser.add_argument("--cutn", type=int, default=32)
    parser.add_argument("--device", default="cuda" if _cuda() else "cpu")
    parser.add_argument("--json", metavar="PATH", help="also write the rows as JSON")
    parser.add_argument("--profile", metavar="PATH", help="append each variant's profile of one step to this file")
    parser.add_argument("--shares", action="store_true", help="time the decoder and CLIP alone: the share of a step elsewhere")
    parser.add_argument("--one", metavar="JSON", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        job = json.loads(args.one)
        family, size = job["case"].split(":")
        rows = measure(
            family, int(size), job["variants"], args.steps, job["rounds"], args.device, args.cutn, args.profile, args.shares
        )
        print(json.dumps(rows))
        return 0
    variants = [(speed, batch) for speed in args.speeds for batch in args.batches]
    groups = [[v] for v in variants] if not args.interleave else [variants]
    rows = []
    for case in args.cases:
        for group in groups:
            job = {"case": case, "variants": group, "rounds": args.interleave or 1}
            cmd = [sys.executable, "-m", "bench.bench_engine", "--one", json.dumps(job), "--steps", str(args.steps)]
            cmd += ["--cutn", str(args.cutn), "--device", args.device, *(["--profile", args.profile] if args.profile else [])]
            cmd += ["--shares"] if args.shares else []
            done = subprocess.run(cmd, capture_output=True, text=True)
            if done.returncode:
                print(f"{case} {group}: failed\n{done.stderr[-2000:]}", file=sys.stderr)
                continue
            rows += json.loads(done.stdout.strip().splitlines()[-1])
            timings = ", ".join(f"{r['seconds_per_step']} s/step" for r in rows[-len(group) :])
            print(f"{case} {group}: {timings}", file=sys.stderr)
    if not rows:
        return 1
    print_tables(rows, args)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=2)
    return 0


def print_tables(rows: list[dict], args: argparse.Namespace) -> None:
    """The rows as Markdown tables, with how they were measured."""
    how = "each variant in its own process"
    if args.interleave:
        how = f"the variants of a case interleaved in one process, median of {args.interleave} rounds"
    print(f"machine: {rows[0]['machine']} ({rows[0]['device']}, torch {rows[0]['torch']}); {bf16_probe(args.device)}")
    print(f"{how}; {args.steps} timed steps per round; peak memory: {rows[0]['peak_memory_kind']}")
    print("| generator | size | speed | in effect | batch | s/step | steps/s | images/h | peak GiB | warm-up s | ratio |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    columns = ("generator", "size", "speed", "effective", "batch", "seconds_per_step", "steps_per_second")
    columns += ("images_per_hour", "peak_memory_gib", "warmup_seconds")
    for row in rows:
        print("| " + " | ".join(str(row[c]) for c in columns) + f" | {ratio(row, rows)} |")
    if args.shares:
        print("\n| generator | size | speed | batch | s/step | decoder s | CLIP s | elsewhere |")
        print("| --- | --- | --- | --- | --- | --- | --- | --- |")
        for row in rows:
            parts = (row["seconds_per_step"], row["decoder_seconds"], row["clip_seconds"])
            head = f"| {row['generator']} | {row['size']} | {row['speed']} | {row['batch']} | "
            print(head + " | ".join(map(str, parts)) + f" | {row['elsewhere_share']:.0%} |")


def cpu_name() -> str:
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
