"""Results that fit a server's upload limit (10 MiB unboosted): a PNG too large to post is posted as
a JPEG of the same picture, the parameters in its comment, shrunk only if even that is too large."""

from __future__ import annotations

import io

from PIL import Image

JPEG_QUALITIES = (95, 88, 80, 70)


def fit(png: bytes, limit: int) -> tuple[bytes, str]:
    """``(data, extension)``: the PNG itself when it fits ``limit`` bytes, else a JPEG that does. Runs in a worker thread."""
    if len(png) <= limit:
        return png, "png"
    with Image.open(io.BytesIO(png), formats=["PNG"]) as image:
        comment = image.text.get("parameters", "").encode()
        picture = image.convert("RGB")
    while True:
        for quality in JPEG_QUALITIES:
            out = io.BytesIO()
            picture.save(out, format="JPEG", quality=quality, comment=comment)
            if out.tell() <= limit:
                return out.getvalue(), "jpg"
        picture = picture.resize((max(1, picture.width * 3 // 4), max(1, picture.height * 3 // 4)), Image.Resampling.LANCZOS)
