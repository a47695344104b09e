"""The moves a member makes after a picture, as the bot and the command line agree on them.

A variation's strength: how much of the seed's fresh noise is mixed into the parent's picture where it starts
(``init_noise``), and how weakly it is then held to that picture (``init_weight`` is one less the strength), so
Subtle keeps the composition and Strong keeps its colours and little more. Pan and Zoom Out: a larger (or the same)
canvas with the old picture kept in a box of it (``RenderRequest.keep``), the rest painted to continue it."""

from __future__ import annotations

from dataclasses import dataclass

from PIL import Image, ImageFilter

STRENGTHS = {"subtle": 0.2, "strong": 0.6}  # the defaults of the server settings vary_subtle and vary_strong


def strength_of(text: str) -> float:
    """``subtle``, ``strong`` (their defaults) or a share from 0 to 1; ``ValueError`` says what would do."""
    word = text.strip().lower()
    if word in STRENGTHS:
        return STRENGTHS[word]
    try:
        value = float(word)
    except ValueError:
        raise ValueError(f"{text!r} is not a strength; use subtle, strong or a share from 0 to 1") from None
    if not 0.0 <= value <= 1.0:  # NaN too
        raise ValueError(f"a strength is a share from 0 to 1, not {text}")
    return value


def variation(strength: float) -> tuple[float, float]:
    """(``init_noise``, ``init_weight``) of a variation of this strength."""
    return round(strength, 4), round(1.0 - strength, 4)


DIRECTIONS = ("left", "right", "up", "down")
ZOOM_OUTS = (1.5, 2.0)  # the Zoom Out buttons; the command line takes any factor from 1 to MAX_ZOOM_OUT
MAX_ZOOM_OUT = 4.0
PAN_SHARE = 0.5  # how much a Pan grows the canvas (the server setting pan_share)
MIN_PAN_SHARE = 0.1  # the least it may grow it, whoever asks
SIDE_STEP = 16  # canvases grow, and sizes are offered, in multiples of this: every painter takes it (VQGAN's f16 needs it)


@dataclass(frozen=True)
class Canvas:
    """Where a Pan or a Zoom Out paints: a canvas of ``width`` x ``height`` with the old picture in ``keep``."""

    width: int
    height: int
    keep: tuple[int, int, int, int]  # x, y, width, height


def pan_canvas(width: int, height: int, direction: str, share: float = PAN_SHARE) -> Canvas:
    """The canvas grown by ``share`` of the picture towards ``direction``, the old picture on the other side."""
    if direction not in DIRECTIONS:
        raise ValueError(f"{direction!r} is not a direction; use {', '.join(DIRECTIONS)}")
    across = direction in ("left", "right")
    grow = max(SIDE_STEP, round((width if across else height) * share / SIDE_STEP) * SIDE_STEP)
    x = grow if direction == "left" else 0
    y = grow if direction == "up" else 0
    return Canvas(width + grow * across, height + grow * (not across), (x, y, width, height))


def zoom_out_canvas(width: int, height: int, factor: float) -> Canvas:
    """The canvas of the same size with the old picture shrunk by ``factor`` in its centre."""
    if not 1.0 < factor <= MAX_ZOOM_OUT:  # NaN too
        raise ValueError(f"a zoom out is a factor above 1 and at most {MAX_ZOOM_OUT:g}, not {factor}")
    inner_width, inner_height = max(1, round(width / factor)), max(1, round(height / factor))
    x, y = (width - inner_width) // 2, (height - inner_height) // 2
    return Canvas(width, height, (x, y, inner_width, inner_height))


def composed(picture: Image.Image, canvas: Canvas) -> Image.Image:
    """The start of a Pan or Zoom Out: the old picture in its box, the rest of the canvas its own colours stretched
    and blurred, so the painter continues from what borders it rather than from grey."""
    x, y, width, height = canvas.keep
    picture = picture.convert("RGB")
    start = picture.resize((canvas.width, canvas.height), Image.Resampling.BICUBIC)
    start = start.filter(ImageFilter.GaussianBlur(max(canvas.width, canvas.height) / 16))
    start.paste(picture.resize((width, height), Image.Resampling.LANCZOS) if picture.size != (width, height) else picture, (x, y))
    return start
