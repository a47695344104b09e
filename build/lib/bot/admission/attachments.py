"""Init images from Discord attachments: fetched only from Discord's CDN (or the configured API
host), capped in size while they download, and decoded in a worker thread with a pixel cap, then
stored re-encoded as a plain PNG so the engine never sees the original bytes."""

from __future__ import annotations

import asyncio
import io
import struct
from urllib.parse import urlsplit

import aiohttp
from PIL import Image

from bot.admission.refusal import Refusal
from contract.limits import IMAGE_FORMATS, MAX_IMAGE_PIXELS
from contract.parameters import PNG_SIGNATURE

CDN_HOSTS = frozenset({"cdn.discordapp.com", "media.discordapp.net"})
MAX_BYTES = 8 * 1024 * 1024
TIMEOUT = aiohttp.ClientTimeout(total=30)


def allowed_host(url: str, api_base: str) -> bool:
    parts = urlsplit(url)
    if parts.hostname in CDN_HOSTS:
        return parts.scheme == "https"
    api = urlsplit(api_base)
    return parts.hostname == api.hostname and parts.port == api.port and parts.scheme == api.scheme


async def fetch(session: aiohttp.ClientSession, url: str, size: int, api_base: str, max_bytes: int = MAX_BYTES) -> bytes:
    """The attachment's bytes, or a ``Refusal`` if it lives elsewhere, is too big, or cannot be fetched."""
    if not allowed_host(url, api_base):
        raise Refusal("The init image must be uploaded to Discord as an attachment.")
    if size > max_bytes:
        raise Refusal(f"The init image is {size / 2**20:.1f} MiB; the limit is {max_bytes / 2**20:.0f} MiB.")
    try:
        async with session.get(url, timeout=TIMEOUT, allow_redirects=False) as response:
            if response.status != 200:
                raise Refusal(f"The init image could not be downloaded (HTTP {response.status}); try uploading it again.")
            data = bytearray()
            async for chunk in response.content.iter_chunked(64 * 1024):
                data += chunk
                if len(data) > max_bytes:
                    raise Refusal(f"The init image is larger than {max_bytes / 2**20:.0f} MiB.")
            return bytes(data)
    except (aiohttp.ClientError, TimeoutError) as error:
        raise Refusal(f"The init image could not be downloaded ({type(error).__name__}); try again.") from None


def sanitize(data: bytes) -> bytes:
    """Decode (refusing decompression bombs) and re-encode as RGB PNG; runs in a worker thread."""
    try:
        with Image.open(io.BytesIO(data), formats=IMAGE_FORMATS) as image:
            if image.width * image.height > MAX_IMAGE_PIXELS:
                raise Refusal(f"The init image is {image.width}x{image.height}; at most {MAX_IMAGE_PIXELS:,} pixels.")
            rgb = image.convert("RGB")
    except Image.DecompressionBombError as error:
        raise Refusal(f"The init image has far too many pixels ({error}).") from None
    except (OSError, ValueError, SyntaxError):
        raise Refusal("The init image could not be read as a picture (PNG, JPEG, WebP or GIF).") from None
    out = io.BytesIO()
    rgb.save(out, format="PNG")
    return out.getvalue()


def png_size(data: bytes) -> tuple[int, int]:
    """Width and height of a PNG, read from its header without decoding it; ValueError if it is none."""
    if len(data) < 24 or data[:8] != PNG_SIGNATURE or data[12:16] != b"IHDR":
        raise ValueError("not a PNG")
    width, height = struct.unpack(">II", data[16:24])
    return width, height


async def init_image(url: str, size: int, api_base: str) -> bytes:
    """The attachment at ``url``, checked and re-encoded; one session per download, as members upload rarely."""
    async with aiohttp.ClientSession() as session:
        data = await fetch(session, url, size, api_base)
    return await asyncio.to_thread(sanitize, data)
