"""The ``dreambot`` command as a user runs it: a fresh process with a config of its own, or the same command
in this process (``dreambot_here``) where a test checks what it computes and writes rather than the process:
each process start costs 4-5 s of CPU in imports (docs/PERFORMANCE.md)."""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
from pathlib import Path

from bot.cli import build_parser, refusal
from bot.config import ConfigError, load_config
from contract.errors import EngineError


def _config(cwd: Path, weights_dir: Path) -> Path:
    config = cwd / "test-config.toml"
    config.write_text(f'[engine]\nweights_dir = "{weights_dir}"\ndevice = "cpu"\n')
    return config


def dreambot(*args: str, weights_dir: Path, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "DREAMBOT_CONFIG": str(_config(cwd, weights_dir))}
    return subprocess.run([sys.executable, "-m", "bot", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def dreambot_here(*args: str, weights_dir: Path, cwd: Path) -> subprocess.CompletedProcess:
    """``dreambot ARGS`` run by its handler in this process, in ``cwd``: its exit code and what it printed, as the
    process would give them (a refusal's message in ``stderr``, exit code 2)."""
    config = _config(cwd, weights_dir)
    parsed = build_parser().parse_args(list(args))
    printed = io.StringIO()
    with contextlib.chdir(cwd), contextlib.redirect_stdout(printed):
        try:
            code = parsed.handler(parsed, load_config(str(config)))
        except (ConfigError, EngineError) as error:
            return subprocess.CompletedProcess(args, 2, printed.getvalue(), refusal(error))
    return subprocess.CompletedProcess(args, code, printed.getvalue(), "")
