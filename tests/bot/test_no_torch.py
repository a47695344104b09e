"""The bot process must never load torch: checked in a fresh interpreter, after importing every
module of ``bot/`` and ``cogs/`` and starting the bot's set-up objects."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_bot_and_cogs_import_without_torch():
    paths = [path for folder in ("bot", "cogs") for path in (ROOT / folder).glob("*.py")]
    modules = sorted(f"{p.parent.name}.{p.stem}" for p in paths if p.stem not in ("__init__", "__main__"))
    code = (
        "import importlib, sys\n"
        f"for name in {modules!r}: importlib.import_module(name)\n"
        "from bot.client import DreamBot\n"
        "from bot.config import Config\n"
        "DreamBot(Config())\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'torchvision', 'open_clip', 'kornia', 'taming'))\n"
        "print(len(sys.modules)); assert not heavy, heavy\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "bot.cli" in modules and "cogs.dream" in modules and "bot.client" in modules
