"""Figures the reliability suite measures: logged, and appended as JSON lines to ``$DREAMBOT_FIGURES``
when it is set, to fill docs/RELIABILITY.md."""

from __future__ import annotations

import json
import logging
import os

log = logging.getLogger(__name__)


def record(scenario: str, figure: str, nothing_lost: str) -> None:
    log.warning("%s | %s | %s", scenario, figure, nothing_lost)
    if path := os.environ.get("DREAMBOT_FIGURES"):
        with open(path, "a") as out:
            out.write(json.dumps({"scenario": scenario, "figure": figure, "nothing_lost": nothing_lost}) + "\n")
