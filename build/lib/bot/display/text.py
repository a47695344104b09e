"""Text from members, made safe to compare (banned words) and to show (names in the bot's messages)."""

from __future__ import annotations

import re
import unicodedata

import discord

# Characters that render as nothing: a banned word split by one of them still reads as the word.
_INVISIBLE = re.compile("[\u00ad\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\ufeff]")


def fold(text: str) -> str:
    """``text`` as CLIP reads it, for comparison: NFKC (full-width and styled letters become plain ones),
    invisible characters removed, case folded."""
    return _INVISIBLE.sub("", unicodedata.normalize("NFKC", text)).casefold()


def shown_name(name: str) -> str:
    """A member's display name inside a bot message: no markdown, no mentions, no line breaks."""
    flat = " ".join(name.split())
    return discord.utils.escape_mentions(discord.utils.escape_markdown(flat))
