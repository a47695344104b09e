"""The mutation groups of ``scripts/mutation_groups.toml``, for ``scripts/mutation.sh``.

``names`` prints the groups; ``configure GROUP PYPROJECT`` appends that group's ``[tool.mutmut]`` to a copy
of pyproject.toml (mutmut reads one configuration per run, so each group runs in its own copy of the tree);
``functions GROUP`` prints the functions its score is restricted to, if any.
"""

from __future__ import annotations

import json
import sys
import tomllib
from pathlib import Path

GROUPS = Path(__file__).with_name("mutation_groups.toml")


def main() -> None:
    groups = tomllib.loads(GROUPS.read_text())
    command, *args = sys.argv[1:]
    if command == "names":
        print("\n".join(groups))
    elif command == "configure":
        name, pyproject = args
        group = groups[name]
        table = {
            "source_paths": ["contract", "bot", "cogs", "engine"],
            "only_mutate": group["mutate"],
            "pytest_add_cli_args_test_selection": group["tests"],
            "also_copy": group.get("also_copy", []),  # what the tests read beside the code (a dashboard, data files)
        }
        lines = ["", "[tool.mutmut]", *(f"{key} = {json.dumps(value)}" for key, value in table.items())]
        with open(pyproject, "a") as file:
            file.write("\n".join(lines) + "\n")
    elif command == "functions":
        print(",".join(groups[args[0]].get("functions", [])))
    else:
        raise SystemExit(f"unknown command {command!r}: names, configure GROUP PYPROJECT, functions GROUP")


if __name__ == "__main__":
    main()
