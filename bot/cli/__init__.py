"""The ``dreambot`` command line: ``run`` and ``worker`` (the bot, and a remote GPU worker), ``render``,
``upscale`` and ``deepdream`` (painting on this machine, without Discord), ``weights``, ``nats-config``, ``check``,
``usage`` and ``describe`` (README.md describes each). One module per group of subcommands: ``serve.py``,
``paint.py`` (with ``request.py`` and ``outputs.py``), ``weights.py``, ``broker.py``, ``moderation.py``, ``usage.py``
and ``describe.py``.

The engine is imported inside the commands that need it, so ``dreambot --help`` stays fast and
the bot process never loads torch.
"""

from __future__ import annotations

import argparse
import logging
import sys

from bot.cli import broker, describe, moderation, paint, serve, usage, weights
from bot.config import ConfigError, load_config
from contract.errors import EngineError, OptionError

log = logging.getLogger("dreambot")


def _config_parent() -> argparse.ArgumentParser:
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument("--config", metavar="PATH", help="config.toml to read (default: $DREAMBOT_CONFIG, then ./config.toml)")
    parent.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    return parent


def build_parser() -> argparse.ArgumentParser:
    parent = _config_parent()
    parser = argparse.ArgumentParser(prog="dreambot", description="Paint pictures from words with CLIP-steered generators.")
    commands = parser.add_subparsers(dest="command", required=True)
    paint.add_commands(commands, parent)
    serve.add_commands(commands, parent)
    weights.add_commands(commands, parent)
    broker.add_commands(commands, parent)
    moderation.add_commands(commands, parent)
    usage.add_commands(commands, parent)
    describe.add_commands(commands, parent)
    return parser


def configure_logging(verbose: bool) -> None:
    """Our own messages at INFO; libraries (open_clip logs every load step to the root) only at WARNING."""
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    for name in ("dreambot", "bot", "cogs", "engine"):
        logging.getLogger(name).setLevel(logging.DEBUG if verbose else logging.INFO)


def refusal(error: ConfigError | EngineError) -> str:
    """What the command line says of a refusal: its sentence, with options named by the flags typed here."""
    if isinstance(error, OptionError):
        return error.spelled(lambda name: "--" + name.replace("_", "-"))
    return str(error)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    configure_logging(args.verbose)
    try:
        config = load_config(args.config)
        return args.handler(args, config)
    except (ConfigError, EngineError) as error:
        log.error("%s", refusal(error))
        return 2
    except KeyboardInterrupt:
        log.error("interrupted")
        return 130
