"""What a flagged picture becomes outside age-restricted channels: each channel's ``flagged`` setting."""

from __future__ import annotations

import enum


class Handling(enum.StrEnum):
    SPOILER = "spoiler"  # posted behind Discord's spoiler, with a blurred picture in the embed
    PRIVATE = "private"  # sent to its member in a direct message; the channel sees the blurred picture
    WITHHOLD = "withhold"  # shown to nobody until a moderator releases it
