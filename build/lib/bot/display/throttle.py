"""Keeping the bot's own messages few: latest-frame-wins edits (``Throttle``), and a budget of public
posts per member (``PostBudget``).

``Throttle``: at most one edit per interval, always of the newest state.

Producers ``push`` as often as they like; a single task edits, so edits never overlap or arrive
out of order, and ``close`` waits for the one in flight before the final result is posted.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import defaultdict, deque
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

log = logging.getLogger(__name__)
T = TypeVar("T")


class Throttle(Generic[T]):
    def __init__(self, apply: Callable[[T], Awaitable[None]], interval: float) -> None:
        self._apply = apply
        self.interval = interval
        self._pending: T | None = None
        self._wake = asyncio.Event()
        self._closing = asyncio.Event()
        self._task = asyncio.create_task(self._run())

    def push(self, item: T) -> None:
        """Replace whatever was waiting with ``item``."""
        self._pending = item
        self._wake.set()

    async def _run(self) -> None:
        while not self._closing.is_set():
            await self._wake.wait()
            self._wake.clear()
            item, self._pending = self._pending, None
            if item is None:
                continue
            try:
                await self._apply(item)
            except Exception:
                log.exception("a throttled edit failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._closing.wait(), self.interval)

    async def close(self) -> None:
        """Drop what is waiting and return once no edit is in flight."""
        self._pending = None
        self._closing.set()
        self._wake.set()
        await self._task


class PostBudget:
    """At most ``posts`` events per member in any ``window`` seconds (monotonic clock); the rest are dropped."""

    def __init__(self, posts: int, window: float) -> None:
        self.posts, self.window = posts, window
        self._recent: defaultdict[int, deque[float]] = defaultdict(deque)

    def allow(self, member_id: int) -> bool:
        now, recent = time.monotonic(), self._recent[member_id]
        while recent and now - recent[0] >= self.window:
            recent.popleft()
        if len(recent) >= self.posts:
            return False
        recent.append(now)
        return True
