"""The bot process must never load torch: checked in a fresh interpreter, after importing every
module of ``bot/``, ``cogs/`` and ``contract/`` and starting the bot's set-up objects. The bot
reaches the engine only through the contract and the engine process, so it imports no ``engine``
module either (``dreambot render`` and ``weights`` import it inside their commands)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_bot_cogs_and_contract_import_without_torch_or_the_engine():
    paths = [path for folder in ("bot", "cogs", "contract") for path in (ROOT / folder).rglob("*.py")]
    parts = [path.relative_to(ROOT).with_suffix("").parts for path in paths if path.stem != "__main__"]
    modules = sorted(".".join(part[:-1] if part[-1] == "__init__" else part) for part in parts)
    code = (
        "import importlib, sys\n"
        f"for name in {modules!r}: importlib.import_module(name)\n"
        "from bot.client import DreamBot\n"
        "from bot.config import Config\n"
        "DreamBot(Config())\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'torchvision', 'open_clip', 'kornia', 'taming'))\n"
        "engine = sorted(m for m in sys.modules if m.split('.')[0] == 'engine')\n"
        "print(len(sys.modules)); assert not heavy, heavy; assert not engine, engine\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert {"bot.cli.paint", "bot.executors.nats.worker", "cogs.jobs", "bot.client", "contract.validation"} <= set(modules)
