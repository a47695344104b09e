"""``dreambot describe IMAGE``: the words the perceptor finds closest to a picture (medium, movement, artist and
flavour, ranked) and candidate prompts that paint something like it (``engine/describe.py``)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from bot.config import Config
from contract.errors import BadRequest
from contract.validation import check_perceptor


def add_commands(commands: argparse._SubParsersAction, parent: argparse.ArgumentParser) -> None:
    describe = commands.add_parser(
        "describe", parents=[parent], help="the words CLIP finds closest to a picture, and prompts that paint it"
    )
    describe.add_argument("image", metavar="IMAGE", help="a PNG, JPEG or WebP picture")
    describe.add_argument("--perceptor", help="the CLIP that judges (default: [defaults] perceptor)")
    describe.add_argument("--top", type=int, default=5, help="phrases shown of each vocabulary (default 5)")
    describe.add_argument("--device", help="auto, cpu, cuda or cuda:N (default: [engine] device)")
    describe.add_argument("--json", action="store_true", help="one JSON object: the ranked phrases and the prompts")
    describe.set_defaults(handler=cmd_describe)


def cmd_describe(args: argparse.Namespace, config: Config) -> int:
    from bot.cli.paint import _device
    from bot.moderation.pictures import decode

    if not 1 <= args.top <= 50:
        raise BadRequest("--top is from 1 to 50")
    perceptor = args.perceptor or config.defaults.perceptor
    check_perceptor(perceptor)
    try:
        image = decode(Path(args.image).read_bytes())
    except (OSError, ValueError) as error:
        raise BadRequest(f"{args.image} could not be read as a picture ({error})") from None
    device = _device(args, config)
    from engine.models import Models
    from engine.weights import WeightStore

    described = Models(WeightStore(Path(config.engine.weights_dir)), device).describer(perceptor).describe(image, args.top)
    if args.json:
        ranked = {
            name: [{"text": p.text, "score": round(p.score, 4)} for p in phrases] for name, phrases in described.ranked.items()
        }
        print(json.dumps({"image": args.image, "perceptor": perceptor, "ranked": ranked, "prompts": described.prompts}))
        return 0
    for name, phrases in described.ranked.items():
        print(f"{name}: " + ", ".join(f"{p.text} ({p.score:.3f})" for p in phrases))
    print("prompts:")
    for prompt in described.prompts:
        print(f"  {prompt}")
    return 0
