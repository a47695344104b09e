"""How long a test waits for what it expects.

Every wait ends the moment its condition holds, so the ceiling only bounds a test that would otherwise hang.
It is far above what the work takes on a quiet machine (replies take under a second, the longest test job
about 40 s), so that a machine loaded by other work (load 10 on two cores) makes the suite slower, never red.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

PATIENCE = 600.0  # seconds


async def until(condition: Callable[[], object], timeout: float = PATIENCE, every: float = 0.02) -> None:
    """Return as soon as ``condition()`` holds; fail after ``timeout`` seconds."""
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(every)
