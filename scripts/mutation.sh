#!/usr/bin/env bash
# Mutation testing of the modules where a silent bug hurts most (pyproject's [tool.mutmut] names
# them and their tests). Not in CI: it takes minutes. Prints the score per module; docs/TESTING.md
# keeps the last one. Usage: bash scripts/mutation.sh   (after bash scripts/setup.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
rm -rf mutants
# One thread per process: mutmut forks a worker per mutant, and a fork of a process whose OpenMP pool
# has run hangs in torch's first parallel op, which would count as a "timeout" kill.
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
log=$(mktemp)
if ! .venv/bin/mutmut run --max-children "${MUTMUT_CHILDREN:-2}" > "$log" 2>&1; then
  tail -c 4000 "$log"  # e.g. a test that fails without any mutant: mutmut stops before it starts
  exit 1
fi
.venv/bin/mutmut results --all true | .venv/bin/python scripts/mutation_scores.py
