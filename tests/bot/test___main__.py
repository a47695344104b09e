"""``python -m bot`` is the ``dreambot`` command."""

import subprocess
import sys


def test_python_m_bot_is_the_command_line():
    done = subprocess.run([sys.executable, "-m", "bot", "--help"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0
    assert "usage: dreambot" in done.stdout
    for command in ("render", "upscale", "deepdream", "run", "worker", "weights"):
        assert command in done.stdout
