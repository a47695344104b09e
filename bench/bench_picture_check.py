"""The picture check's cost: milliseconds a picture for NudeNet (the safety extra) at several sizes, on this
machine's CPU, through the bot's own path (decode the PNG, run the detector) and for the detector alone; with
``--clip``, the CLIP zero-shot check too (the engine's scoring of a picture against 5 concepts with a full-size
ViT-B/32 of random weights, which costs what the trained one does).

    python -m bench.bench_picture_check                  # 256² and 1024², 20 pictures each
    python -m bench.bench_picture_check --sizes 256 512 1024 --repeats 50 --clip
"""

from __future__ import annotations

import argparse
import io
import os
import platform
import statistics
import time
from pathlib import Path

from PIL import Image

from bot.moderation.pictures import NudeNet, decode


def png(side: int) -> bytes:
    buffer = io.BytesIO()
    Image.effect_noise((side, side), 60).convert("RGB").save(buffer, "PNG")
    return buffer.getvalue()


def cpu_name() -> str:
    """The CPU's model name where Linux says it, else the architecture."""
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return platform.machine()
    return next((line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")), platform.machine())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 1024])
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--clip", action="store_true", help="the CLIP zero-shot check too (random ViT-B/32)")
    args = parser.parse_args()
    if not NudeNet.available():
        raise SystemExit("NudeNet is not installed: pip install 'dreambot[safety]'")
    detector = NudeNet()
    started = time.perf_counter()
    detector.check(Image.new("RGB", (64, 64)))
    print(f"cpu: {cpu_name()} ({os.cpu_count()} cores); first picture (loads the model): "
          f"{(time.perf_counter() - started) * 1000:.0f} ms")  # fmt: skip
    print("side    decode+check ms (median)    check alone ms (median)")
    for side in args.sizes:
        data = png(side)
        image = decode(data)
        whole, alone = [], []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            detector.check(decode(data))
            t1 = time.perf_counter()
            detector.check(image)
            t2 = time.perf_counter()
            whole.append((t1 - t0) * 1000)
            alone.append((t2 - t1) * 1000)
        print(f"{side:>4}    {statistics.median(whole):>20.1f}    {statistics.median(alone):>23.1f}")
    if args.clip:
        clip(args.sizes, args.repeats)


def clip(sides: list[int], repeats: int) -> None:
    """The engine's concept scoring of one picture (decode, centre crop, one image pass, 13 dot products)."""
    import tempfile

    import open_clip
    import torch

    from engine.models import Models
    from engine.networks.tiny import save_clip
    from engine.weights import WeightStore, spec_for

    concepts = ["gore", "a weapon", "blood", "a swastika", "a corpse"]
    with tempfile.TemporaryDirectory(prefix="dreambot-bench-") as folder:
        save_clip(spec_for("ViT-B-32/openai").folder_in(Path(folder)), open_clip.get_model_config("ViT-B-32"))
        scorer = Models(WeightStore(Path(folder)), "cpu").concept_scorer("ViT-B-32/openai")
        started = time.perf_counter()
        scorer.pictures([png(64)], concepts)  # encodes the prompts once
        print(f"clip check, first picture (encodes the 13 prompts): {(time.perf_counter() - started) * 1000:.0f} ms; "
              f"torch threads: {torch.get_num_threads()}")  # fmt: skip
        print("side    clip check ms (median)")
        for side in sides:
            data = png(side)
            times = []
            for _ in range(repeats):
                t0 = time.perf_counter()
                scorer.pictures([data], concepts)
                times.append((time.perf_counter() - t0) * 1000)
            print(f"{side:>4}    {statistics.median(times):>22.1f}")


if __name__ == "__main__":
    main()
