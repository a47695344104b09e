"""``dreambot weights list | download NAME | path NAME | verify [NAME]``: the weights cache, from the
command line."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from bot.config import Config

if TYPE_CHECKING:
    from contract.models import ModelSpec
    from engine.weights import WeightStore


def add_commands(commands: argparse._SubParsersAction, parent: argparse.ArgumentParser) -> None:
    weights = commands.add_parser("weights", parents=[parent], help="list, download or locate model weights")
    actions = weights.add_subparsers(dest="action", required=True)
    actions.add_parser("list", parents=[parent], help="every known model and whether its files are here")
    for action, text in (("download", "fetch a model's files"), ("path", "print where a model's files live")):
        sub = actions.add_parser(action, parents=[parent], help=text)
        sub.add_argument("name")
    verify = actions.add_parser("verify", parents=[parent], help="check files against their published or first-download sha256")
    verify.add_argument("name", nargs="?", help="one model (default: every model with files here)")
    weights.set_defaults(handler=cmd_weights)


def cmd_weights(args: argparse.Namespace, config: Config) -> int:
    from contract.registry import KNOWN_PERCEPTORS, REGISTRY, perceptor_members
    from engine.weights import WeightStore, spec_for

    store = WeightStore(Path(config.engine.weights_dir))
    if args.action == "list":
        print(f"weights folder: {store.root}")
        specs = [spec_for(name) for name in list(REGISTRY) + [n for n in KNOWN_PERCEPTORS if n not in REGISTRY]]
        rows = [(spec.name, spec.family, _weights_state(store, spec), spec.description) for spec in specs]
        widths = [max(len(row[column]) for row in rows) for column in range(3)]  # columns that line up, whatever the names
        for *columns, description in rows:
            print(" ".join(text.ljust(width) for text, width in zip(columns, widths, strict=True)), description)
        print("any open_clip MODEL/PRETRAINED pair published on Hugging Face works as a perceptor; A+B is an ensemble")
        return 0
    if args.action == "verify":
        return _verify(store, [spec_for(n) for n in perceptor_members(args.name)] if args.name else _present(store))
    for name in perceptor_members(args.name):  # an ensemble "A+B": each of its perceptors
        spec = spec_for(name)
        if not spec.needs_weights:
            print(f"{spec.name} needs no weights: {spec.description}")
        elif args.action == "path":
            print(store.folder(spec))
        else:
            print(store.download(spec))
    return 0


def _weights_state(store: WeightStore, spec: ModelSpec) -> str:
    if not spec.needs_weights:
        return "no weights needed"
    if not store.missing(spec):
        return "present"
    return "made on first use" if spec.synthetic else "missing"


def _present(store: WeightStore) -> list[ModelSpec]:
    """Every model that has a folder in the cache: registered ones, and open_clip pairs by folder name."""
    from contract.errors import WeightsError
    from contract.registry import REGISTRY
    from engine.weights import spec_for

    folders = {p.name for p in store.root.iterdir() if p.is_dir()} if store.root.is_dir() else set()
    specs = [spec for spec in REGISTRY.values() if spec.folder_name in folders and spec.needs_weights]
    for folder in sorted(folders - {spec.folder_name for spec in specs}):
        try:
            specs.append(spec_for(folder.replace("__", "/")))
        except WeightsError:
            print(f"{folder}: not a model dreambot knows; left alone")
    return specs


def _verify(store: WeightStore, specs: list[ModelSpec]) -> int:
    """Print each file's state; 1 when any file differs from what it should be."""
    from engine.integrity import verify

    if not specs:
        print(f"no model weights in {store.root}")
    changed = {}
    for spec in specs:
        for check in verify(spec, store.folder(spec)):
            print(f"{spec.name:28} {check.file:30} {check.state.value}{': ' + check.detail if check.detail else ''}")
            if check.bad:
                changed[spec.name] = spec
    for name, spec in changed.items():
        print(
            f"{name} has files other than those published or first fetched: delete {store.folder(spec)} "
            f"and fetch it again with: dreambot weights download {name}"
        )
    return 1 if changed else 0
