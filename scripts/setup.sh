#!/usr/bin/env bash
# Creates .venv and installs dreambot with everything it needs. Safe to run again: it does nothing
# when pyproject.toml has not changed since the last successful install.
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$python" -m venv .venv
stamp=.venv/.dreambot-installed
want=$(sha256sum pyproject.toml scripts/setup.sh | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  .venv/bin/pip install --quiet --upgrade pip
  # torch first, pinned: these builds lie on the build machines' disk, and open_clip needs a matching torchvision.
  .venv/bin/pip install --quiet torch==2.14.1 torchvision==0.29.1
  # safety: the picture check's detector (NudeNet), an extra because its model is AGPL-3.0 (README: Moderation).
  .venv/bin/pip install --quiet -e '.[dev,safety]'
  echo "$want" > "$stamp"
fi
