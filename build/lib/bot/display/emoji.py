"""The reactions a job's message answers to, shown the same on its buttons and in its footer."""

from __future__ import annotations

AGAIN = "🔁"
CANCEL = "❌"
ANIMATION = "🎞️"
DELETE = "🗑️"


def plain(emoji: str) -> str:
    """Without variation selectors: clients send 🎞 and 🎞️ alike."""
    return emoji.replace("\ufe0f", "")
