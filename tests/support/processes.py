"""``dreambot run`` as a real process, as the owner starts it, against the emulator."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from tests.support.waiting import PATIENCE

ROOT = Path(__file__).resolve().parents[2]


def write_config(folder: Path, api_base: str, weights_dir: Path) -> Path:
    config = folder / "config.toml"
    config.write_text(
        f'[discord]\napi_base = "{api_base}"\n[engine]\ndevice = "cpu"\nweights_dir = "{weights_dir}"\n'
        f'[defaults]\nmodel = "tiny-vqgan"\nperceptor = "tiny-clip"\nsize = "32x32"\nsteps = 5\n'
        f'[storage]\npath = "{folder / "db.sqlite3"}"\nfiles = "{folder / "files"}"\n'
    )
    return config


async def start(folder: Path, token: str | None) -> asyncio.subprocess.Process:
    env = {k: v for k, v in os.environ.items() if k not in ("DISCORD_TOKEN", "DREAMBOT_CONFIG")}
    env["PYTHONPATH"] = str(ROOT)
    if token is not None:
        env["DISCORD_TOKEN"] = token
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "run", cwd=folder, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )


async def finish(process: asyncio.subprocess.Process) -> tuple[int, str]:
    output, _ = await asyncio.wait_for(process.communicate(), PATIENCE)
    return process.returncode, output.decode()
