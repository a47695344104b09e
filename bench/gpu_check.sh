#!/usr/bin/env bash
# The device check of issue 19 in one command: CUDA tests, the benchmark of every family (plain against
# fast), a 300-step default dream end to end, images per hour by batch size; one table, and JSON.
# With no GPU (or --cpu) it runs small cases, as CI does. See bench/gpu_check.py.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-.venv/bin/python}"
exec "$PYTHON" -m bench.gpu_check "$@"
