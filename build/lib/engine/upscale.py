"""4x super-resolution of a finished picture (Real-ESRGAN through spandrel), tile by tile.

Tiles bound the memory whatever the picture's size: each is upscaled with a margin of its
neighbours' pixels, and only its own part of the result is kept, so no seam shows. The PNG keeps
the picture's ``parameters`` and adds the upscale to them.
"""

from __future__ import annotations

import io
import time
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from PIL import Image, UnidentifiedImageError

from contract.errors import BadRequest
from contract.limits import MAX_UPSCALE_SIDE
from contract.protocol import RenderRequest
from contract.registry import upscaler_names
from contract.validation import validate_upscale
from engine import output
from engine.images import image_tensor
from engine.networks.esrgan import SCALE

if TYPE_CHECKING:
    from engine.models import Models

TILE = 256  # pixels of the input upscaled at once
MARGIN = 16  # pixels of context around each tile


@torch.no_grad()
def upscale_tensor(network: torch.nn.Module, image: torch.Tensor, tile: int = TILE, margin: int = MARGIN) -> torch.Tensor:
    """``image`` ``[1, 3, H, W]`` in [0, 1], ``SCALE`` times larger."""
    _, _, height, width = image.shape
    out = image.new_zeros(1, 3, height * SCALE, width * SCALE)
    for top in range(0, height, tile):
        for left in range(0, width, tile):
            bottom, right = min(top + tile, height), min(left + tile, width)
            y0, x0 = max(top - margin, 0), max(left - margin, 0)
            y1, x1 = min(bottom + margin, height), min(right + margin, width)
            result = network(image[:, :, y0:y1, x0:x1]).clamp(0, 1)
            dy, dx = (top - y0) * SCALE, (left - x0) * SCALE
            out[:, :, top * SCALE : bottom * SCALE, left * SCALE : right * SCALE] = result[
                :, :, dy : dy + (bottom - top) * SCALE, dx : dx + (right - left) * SCALE
            ]
    return out


def upscaled_parameters(recorded: str, model: str) -> str:
    """The picture's ``parameters`` with the upscale added to its line of ``Key: value`` pairs."""
    note = f"Upscale: {model} {SCALE}x"
    return f"{recorded}, {note}" if recorded else note


def upscale_png(engine: Models, data: bytes, model: str) -> tuple[Image.Image, bytes]:
    """A picture's bytes (PNG, JPEG or WebP) upscaled by ``model``: the image and its PNG."""
    if model not in upscaler_names():
        raise BadRequest(f"unknown upscaler {model!r}; upscalers: {', '.join(upscaler_names())}")
    try:
        with Image.open(io.BytesIO(data), formats=["PNG", "JPEG", "WEBP"]) as opened:
            recorded = opened.info.get("parameters", "") if isinstance(opened.info.get("parameters"), str) else ""
            if max(opened.size) > MAX_UPSCALE_SIDE:
                raise BadRequest(
                    f"the picture is {opened.width}x{opened.height}; pictures up to {MAX_UPSCALE_SIDE} a side are upscaled"
                )
            picture = opened.convert("RGB")
    except UnidentifiedImageError:
        raise BadRequest("the picture could not be read: it is not a PNG, JPEG or WebP picture") from None
    except (OSError, Image.DecompressionBombError) as error:
        raise BadRequest(f"the picture could not be read ({error})") from None
    network = engine.upscaler(model)
    tensor = upscale_tensor(network, image_tensor(picture, engine.device))
    image = output.to_pil(tensor)
    return image, output.png_bytes(image, upscaled_parameters(recorded, model))


def upscale_request(engine: Models, request: RenderRequest) -> tuple[bytes, float]:
    """An upscale job (``RenderRequest.is_upscale``): the PNG of its init image, 4x, and the seconds it took."""
    start = time.perf_counter()
    validate_upscale(request)
    assert request.init_image is not None
    _, png = upscale_png(engine, Path(request.init_image).read_bytes(), request.model)
    return png, time.perf_counter() - start
