"""The attachment checks at their edges: hosts next to Discord's CDN and the API host are refused before any
request, and every picture format Pillow can write besides PNG, JPEG, WebP and GIF is refused undecoded."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from bot.admission.attachments import allowed_host, fetch, sanitize
from bot.admission.refusal import Refusal
from contract.errors import BadRequest
from contract.limits import IMAGE_FORMATS
from contract.validation import open_image

API = "http://127.0.0.1:8080/api/v10"
ALLOWED = [
    "https://cdn.discordapp.com/attachments/1/2/a.png",
    "https://media.discordapp.net/attachments/1/2/a.png",
    "http://127.0.0.1:8080/cdn/a.png",
]
NEIGHBOURS = [
    "http://cdn.discordapp.com/attachments/1/2/a.png",  # the CDN over plain HTTP
    "https://cdn.discordapp.com.evil.example/a.png",  # the CDN's name as a prefix
    "https://evil.cdn.discordapp.com/a.png",  # ... as a suffix
    "https://cdn.discordapp.co/a.png",
    "https://cdndiscordapp.com/a.png",
    "https://cdn.discordapp.com@evil.example/a.png",  # the CDN's name as a user name
    "https://evil.example/cdn.discordapp.com/a.png",  # ... as a path
    "https://media.discordapp.net.evil.example/a.png",
    "http://127.0.0.1:8081/cdn/a.png",  # the API host on another port
    "https://127.0.0.1:8080/cdn/a.png",  # ... with another scheme
    "http://127.0.0.10:8080/cdn/a.png",  # ... a longer address
    "http://localhost:8080/cdn/a.png",  # ... another name for it
    "http://127.0.0.1:8080@evil.example/cdn/a.png",
    "file:///etc/passwd",
]


class NoRequests:
    """A session that fails the test if anything is fetched."""

    def get(self, *args, **kwargs):
        raise AssertionError(f"a request was made: {args}")


def test_the_allowed_hosts_are_allowed():
    assert all(allowed_host(url, API) for url in ALLOWED)


@pytest.mark.parametrize("url", NEIGHBOURS)
async def test_each_neighbour_of_an_allowed_host_is_refused_before_any_request(url):
    assert not allowed_host(url, API)
    with pytest.raises(Refusal, match="must be uploaded to Discord as an attachment"):
        await fetch(NoRequests(), url, 100, API)  # type: ignore[arg-type]


def written(kind: str) -> bytes | None:
    """A small picture in Pillow's format ``kind``, or None where Pillow cannot write it here."""
    for mode in ("RGB", "L", "1"):
        out = io.BytesIO()
        try:
            Image.new(mode, (16, 16), 128 if mode != "RGB" else (200, 30, 30)).save(out, format=kind)
        except (OSError, ValueError, KeyError, TypeError):
            continue
        return out.getvalue()
    return None


def known(kind: str) -> bool:
    """Pillow writes ``kind`` here and recognises what it wrote: only the allow-list would stand in the way."""
    data = written(kind)
    if data is None:
        return False
    try:
        return Image.open(io.BytesIO(data)).format == kind
    except OSError:
        return False


Image.init()  # every plugin registered, so that SAVE lists every format
OTHER_FORMATS = [kind for kind in sorted(set(Image.SAVE) - set(IMAGE_FORMATS) - {"MPO"}) if known(kind)]  # MPO: a JPEG


def test_enough_other_formats_are_tried():
    assert {"BMP", "TIFF", "EPS", "ICO", "PPM", "TGA"} <= set(OTHER_FORMATS)


@pytest.mark.parametrize("kind", OTHER_FORMATS)
def test_a_picture_in_any_other_format_is_refused_undecoded(tmp_path, kind):
    data = written(kind)
    with pytest.raises(Refusal, match=r"could not be read as a picture \(PNG, JPEG, WebP or GIF\)"):
        sanitize(data)
    path = tmp_path / f"picture.{kind.lower()}"
    path.write_bytes(data)
    with pytest.raises(BadRequest, match="could not be read as a picture"):
        open_image(str(path))


@pytest.mark.parametrize("kind", IMAGE_FORMATS)
def test_each_allowed_format_is_read(tmp_path, kind):
    data = written(kind)
    assert Image.open(io.BytesIO(sanitize(data))).size == (16, 16)
    path = tmp_path / f"picture.{kind.lower()}"
    path.write_bytes(data)
    assert open_image(str(path)).size == (16, 16)
