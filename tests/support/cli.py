"""The ``dreambot`` command as a user runs it: a fresh process with a config of its own."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def dreambot(*args: str, weights_dir: Path, cwd: Path) -> subprocess.CompletedProcess:
    config = cwd / "test-config.toml"
    config.write_text(f'[engine]\nweights_dir = "{weights_dir}"\ndevice = "cpu"\n')
    env = {**os.environ, "DREAMBOT_CONFIG": str(config)}
    return subprocess.run([sys.executable, "-m", "bot", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
