"""Turning tensors into files: the final PNG with its ``parameters``, previews, and the run's GIF."""

from __future__ import annotations

import io
from dataclasses import dataclass, field

import torch
from PIL import Image, PngImagePlugin

PREVIEW_QUALITY = 80
PREVIEW_SIDE = 512  # previews and animation frames are at most this wide and high
MAX_FRAMES = 100  # frames an animation keeps, however long the run
UPLOAD_LIMIT = 10 * 1024 * 1024  # Discord's upload limit on a server that is not boosted


def small(image: Image.Image) -> Image.Image:
    """``image`` fitted inside ``PREVIEW_SIDE`` (itself when it already fits): what previews and frames show."""
    if max(image.size) <= PREVIEW_SIDE:
        return image
    fitted = image.copy()
    fitted.thumbnail((PREVIEW_SIDE, PREVIEW_SIDE), Image.Resampling.LANCZOS)
    return fitted


@dataclass
class Reel:
    """The frames of a run's animation, at most ``limit``: when full, every other frame is dropped and
    later ones are kept half as often, so a run of any length keeps frames from start to end."""

    limit: int = MAX_FRAMES
    frames: list[Image.Image] = field(default_factory=list)
    stride: int = 1
    seen: int = 0

    def add(self, frame: Image.Image) -> None:
        if self.seen % self.stride == 0:
            self.frames.append(frame)
            if len(self.frames) > self.limit:
                self.frames = self.frames[::2]
                self.stride *= 2
        self.seen += 1


def to_pil(image: torch.Tensor) -> Image.Image:
    """``[1, 3, H, W]`` in [0, 1] to an RGB image."""
    array = image[0].detach().float().clamp(0, 1).mul(255).round().byte().permute(1, 2, 0).cpu().numpy()
    return Image.fromarray(array, "RGB")


def png_bytes(image: Image.Image, parameters: str) -> bytes:
    info = PngImagePlugin.PngInfo()
    info.add_text("parameters", parameters)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", pnginfo=info)
    return buffer.getvalue()


def preview_bytes(image: Image.Image) -> bytes:
    """A light JPEG with no metadata, for progress edits."""
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=PREVIEW_QUALITY)
    return buffer.getvalue()


def gif_bytes(frames: list[Image.Image], frame_ms: int = 80, limit: int = UPLOAD_LIMIT) -> bytes:
    """The run as a looping GIF, holding the last frame a little longer, within ``limit`` bytes: frames
    are dropped (every other one, each pass lasting twice as long), then shrunk, until it fits."""
    while True:
        buffer = io.BytesIO()
        durations = [frame_ms] * (len(frames) - 1) + [frame_ms * 10]
        frames[0].save(buffer, format="GIF", save_all=True, append_images=frames[1:], duration=durations, loop=0)
        if buffer.tell() <= limit or (len(frames) <= 2 and min(frames[0].size) <= 32):
            return buffer.getvalue()
        if len(frames) > 2:
            frames, frame_ms = [*frames[:-1:2], frames[-1]], frame_ms * 2
        else:
            frames = [frame.resize((max(1, frame.width // 2), max(1, frame.height // 2))) for frame in frames]
