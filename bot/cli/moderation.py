"""``dreambot check IMAGE...``: what the picture check finds in pictures, to tune ``[moderation] threshold``
on an owner's own pictures before the bot relies on it."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from bot.config import Config
from contract.errors import BadRequest


def add_commands(commands: argparse._SubParsersAction, parent: argparse.ArgumentParser) -> None:
    check = commands.add_parser(
        "check", parents=[parent], help="print what the picture check finds in pictures (exit 1 if one is flagged)"
    )
    check.add_argument("images", nargs="+", metavar="IMAGE", help="PNG, JPEG or WebP pictures")
    check.add_argument("--json", action="store_true", help="one JSON object per picture instead of text")
    check.set_defaults(handler=cmd_check)


def cmd_check(args: argparse.Namespace, config: Config) -> int:
    from bot.moderation.pictures import SAFETY_EXTRA, NudeNet, decode

    if not NudeNet.available():
        raise BadRequest(f"the picture check needs NudeNet, which is not installed: {SAFETY_EXTRA}")
    detector = NudeNet(config.moderation.threshold)
    flagged = False
    for name in args.images:
        try:
            image = decode(Path(name).read_bytes())
        except (OSError, ValueError) as error:
            raise BadRequest(f"{name} could not be read as a picture ({error})") from None
        verdict = detector.check(image)
        flagged |= verdict.flagged
        if args.json:
            findings = {finding.label: round(finding.score, 4) for finding in verdict.findings}
            print(json.dumps({"image": name, "flagged": verdict.flagged, "nudenet": findings}))
        else:
            print(f"{name}: {'FLAGGED' if verdict.flagged else 'clear'} (nudenet: {verdict})")
    return 1 if flagged else 0
