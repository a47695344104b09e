"""Per-module mutation scores from ``mutmut results --all true`` on stdin.

A mutant counts as killed when a test failed, timed out or crashed on it; ``no tests`` counts as
surviving (nothing would notice it). Prints one line per module, then each survivor's name so
``mutmut show NAME`` can explain it. ``--functions a,b`` counts only those functions' mutants (a group
that judges a few functions of a large module).
"""

from __future__ import annotations

import argparse
import re
import sys
from collections import Counter, defaultdict

KILLED = {"killed", "timeout", "segfault", "caught by type check"}
UNRUN = {"not checked", "skipped"}
LINE = re.compile(r"^\s*(?P<module>[\w.]+?)\.x[_ǁ](?P<rest>\S+): (?P<status>.+)$")


def function_of(rest: str) -> str:
    """The mutated function's name: ``f__mutmut_3`` is ``f``, a method ``Classǁf__mutmut_3`` is ``f`` too."""
    return rest.split("__mutmut_")[0].split("ǁ")[-1]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--functions", default="", help="comma-separated: count only these functions' mutants")
    only = {name for name in parser.parse_args().functions.split(",") if name}
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    survivors: list[str] = []
    for line in sys.stdin:
        match = LINE.match(line)
        if not match or (only and function_of(match["rest"]) not in only):
            continue
        status = match["status"].strip()
        counts[match["module"]][status] += 1
        if status not in KILLED | UNRUN:
            survivors.append(f"{line.split(': ')[0].strip()} ({status})")
    print(f"{'module':28} {'mutants':>8} {'killed':>7} {'score':>7} {'not run':>8}")
    for module, statuses in sorted(counts.items()):
        unrun = sum(statuses[s] for s in UNRUN)
        total = sum(statuses.values()) - unrun
        killed = sum(statuses[s] for s in KILLED)
        print(f"{module:28} {total:8} {killed:7} {killed / max(total, 1):7.1%} {unrun:8}")
    for name in survivors:
        print("survived:", name)


if __name__ == "__main__":
    main()
