"""Pictures between Pillow and tensors: ``[1, 3, H, W]`` in [0, 1]."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from PIL import Image


def image_tensor(image: Image.Image, device: torch.device) -> torch.Tensor:
    """RGB image to ``[1, 3, H, W]`` in [0, 1]."""
    array = torch.frombuffer(bytearray(image.tobytes()), dtype=torch.uint8)
    return array.view(image.height, image.width, 3).permute(2, 0, 1)[None].float().div(255).to(device)


def resize_image(image: torch.Tensor, width: int, height: int) -> torch.Tensor:
    """Resize ``[1, 3, h, w]`` to cover ``width``x``height`` and centre-crop (antialiased)."""
    _, _, h, w = image.shape
    scale = max(width / w, height / h)
    size = (max(height, round(h * scale)), max(width, round(w * scale)))
    image = F.interpolate(image, size=size, mode="bicubic", antialias=True, align_corners=False).clamp(0, 1)
    top, left = (size[0] - height) // 2, (size[1] - width) // 2
    return image[:, :, top : top + height, left : left + width]
