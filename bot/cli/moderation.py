"""``dreambot check IMAGE...``: what the picture checks find in pictures, to tune ``[moderation] threshold`` and a
server's ``clip_threshold`` on an owner's own pictures before the bot relies on them."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from bot.config import Config
from contract.concepts import DEFAULT_CONCEPT_THRESHOLD, check_concepts
from contract.errors import BadRequest
from contract.validation import check_perceptor


def add_commands(commands: argparse._SubParsersAction, parent: argparse.ArgumentParser) -> None:
    check = commands.add_parser(
        "check", parents=[parent], help="print what the picture checks find in pictures (exit 1 if one is flagged)"
    )
    check.add_argument("images", nargs="+", metavar="IMAGE", help="PNG, JPEG or WebP pictures")
    check.add_argument("--json", action="store_true", help="one JSON object per picture instead of text")
    check.add_argument(
        "--concepts", default="", help="comma-separated concepts for the CLIP check, as in the clip_concepts setting"
    )
    check.add_argument("--clip-threshold", type=float, default=DEFAULT_CONCEPT_THRESHOLD, help="as the clip_threshold setting")
    check.add_argument("--perceptor", help="the CLIP that scores the concepts (default: [defaults] perceptor)")
    check.add_argument("--device", help="auto, cpu, cuda or cuda:N (default: [engine] device)")
    check.set_defaults(handler=cmd_check)


def cmd_check(args: argparse.Namespace, config: Config) -> int:
    from bot.moderation.pictures import SAFETY_EXTRA, NudeNet, Verdict, concept_verdict, decode

    try:
        concepts = check_concepts(args.concepts.split(","))
    except ValueError as error:
        raise BadRequest(f"--concepts: {error}") from None
    if not 0.0 <= args.clip_threshold <= 1.0:
        raise BadRequest("--clip-threshold is a share from 0 to 1")
    detector = NudeNet(config.moderation.threshold) if NudeNet.available() else None
    if detector is None and not concepts:
        raise BadRequest(f"the picture check needs NudeNet, which is not installed ({SAFETY_EXTRA}); or give --concepts")
    scorer = _scorer(args, config) if concepts else None
    flagged = False
    for name in args.images:
        try:
            image = decode(Path(name).read_bytes())
        except (OSError, ValueError) as error:
            raise BadRequest(f"{name} could not be read as a picture ({error})") from None
        verdicts: dict[str, Verdict] = {}
        if detector is not None:
            verdicts["nudenet"] = detector.check(image)
        if scorer is not None:
            verdicts["clip"] = concept_verdict(scorer.scores(image, concepts), args.clip_threshold)
        picture_flagged = any(verdict.flagged for verdict in verdicts.values())
        flagged |= picture_flagged
        if args.json:
            found = {check: {f.label: round(f.score, 4) for f in verdict.findings} for check, verdict in verdicts.items()}
            print(json.dumps({"image": name, "flagged": picture_flagged, **found}))
        else:
            found = "; ".join(f"{check}: {verdict}" for check, verdict in verdicts.items())
            print(f"{name}: {'FLAGGED' if picture_flagged else 'clear'} ({found})")
    return 1 if flagged else 0


def _scorer(args: argparse.Namespace, config: Config):
    """The CLIP check with the perceptor asked for, loaded here (this command runs where the weights are)."""
    from bot.cli.paint import _device
    from engine.models import Models
    from engine.weights import WeightStore

    perceptor = args.perceptor or config.defaults.perceptor
    check_perceptor(perceptor)
    models = Models(WeightStore(Path(config.engine.weights_dir)), _device(args, config))
    return models.concept_scorer(perceptor)
