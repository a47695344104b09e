"""A stand-in picture check: it flags red pictures, so a test chooses which job is flagged by its init image
(the pixels painter keeps an init image's colour over a few steps)."""

from __future__ import annotations

import io

from PIL import Image, ImageStat

from bot.moderation.pictures import Finding, Verdict


class RedFlags:
    """Flags a mostly red picture (within a film's compression) no larger than ``max_side``; notes the size of
    every picture it saw."""

    name = "red"

    def __init__(self, max_side: int = 4096) -> None:
        self.max_side = max_side
        self.seen: list[tuple[int, int]] = []

    def check(self, image: Image.Image) -> Verdict:
        self.seen.append(image.size)
        red, green, blue = ImageStat.Stat(image.convert("RGB")).mean
        flagged = red > 200 and max(green, blue) < 60 and max(image.size) <= self.max_side
        return Verdict(flagged, (Finding("RED", 0.9 if flagged else 0.1),))


def png(colour: str, size: tuple[int, int] = (32, 32)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, "PNG")
    return buffer.getvalue()
