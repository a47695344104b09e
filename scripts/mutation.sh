#!/usr/bin/env bash
# Mutation testing, group by group: scripts/mutation_groups.toml names each group's modules and the tests that
# judge them. Not in CI: it takes long. Prints each module's score and every survivor; docs/TESTING.md keeps the
# last figures. Usage: bash scripts/mutation.sh [GROUP ...]   (after bash scripts/setup.sh; no GROUP: all)
# MUTANTS='bot.queue.store.*' runs only the mutants whose names match (a group too slow to run whole).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
python=$root/.venv/bin/python
# One thread per process: mutmut forks a worker per mutant, and a fork of a process whose OpenMP pool
# has run hangs in torch's first parallel op, which would count as a "timeout" kill.
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
if [ $# -gt 0 ]; then groups=("$@"); else mapfile -t groups < <("$python" scripts/mutation_groups.py names); fi
for group in "${groups[@]}"; do
  # mutmut reads one configuration per run: each group runs in its own copy of the tree, with its own [tool.mutmut]
  work=${TMPDIR:-/tmp}/dreambot-mutation/$group
  rm -rf "$work" && mkdir -p "$work"
  tar --exclude=./.venv --exclude=./.git --exclude=./mutants --exclude='*/__pycache__' -cf - . | tar -xf - -C "$work"
  ln -s "$root/.venv" "$work/.venv"
  "$python" scripts/mutation_groups.py configure "$group" "$work/pyproject.toml"
  functions=$("$python" scripts/mutation_groups.py functions "$group")
  log=$work/mutmut.log
  echo "== $group"
  # shellcheck disable=SC2086  # MUTANTS is a glob for mutmut, not for the shell
  if ! (cd "$work" && set -f && .venv/bin/mutmut run --max-children "${MUTMUT_CHILDREN:-2}" ${MUTANTS:-} > "$log" 2>&1); then
    tail -c 4000 "$log"  # e.g. a test that fails without any mutant: mutmut stops before it starts
    exit 1
  fi
  (cd "$work" && .venv/bin/mutmut results --all true) | "$python" scripts/mutation_scores.py --functions "$functions"
done
