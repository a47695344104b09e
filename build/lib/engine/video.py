"""MP4 films of a run with PyAV (FFmpeg's libraries, in its wheels): H.264, yuv420p, fast start.

Frames go to the encoder as they come and only the last one is kept, so a film of any length costs
the memory of one frame. Between two key frames (a preview, a zoom frame) ``tween`` frames cross-fade,
so a 300-step run with a key frame every 10 steps plays for about ``TARGET_SECONDS``. The bit rate is
capped from the start so the film fits the upload limit; a film that still comes out too big is
encoded again from itself at a lower rate, then at half the size, until it fits.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import shutil
import tempfile
import threading
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from engine.output import UPLOAD_LIMIT

log = logging.getLogger(__name__)

FPS = 24
TARGET_SECONDS = 6.0  # how long a run's film plays, about, whatever its number of key frames
MAX_TWEEN = 12  # frames from one key frame to the next, at most (half a second)
HOLD_SECONDS = 1.5  # the last picture stays this long
CRF = "20"  # x264's quality when the cap allows it
HEADROOM = 0.9  # of the upload limit the bit-rate cap aims at (the container and rate control overshoot a little)
MIN_SIDE = 64  # a film is not shrunk below this
QUEUED = 8  # pictures waiting for the encoder thread, at most
CAPTION_SHARE = 0.06  # caption text height, as a share of the frame's height


def tween_for(key_frames: int) -> int:
    """Frames per key frame so that ``key_frames`` play for about ``TARGET_SECONDS``."""
    return max(1, min(MAX_TWEEN, round(TARGET_SECONDS * FPS / max(key_frames, 1))))


def even(size: tuple[int, int]) -> tuple[int, int]:
    """yuv420p halves the chroma planes: both sides must be even."""
    return max(2, size[0] // 2 * 2), max(2, size[1] // 2 * 2)


def captioned(image: Image.Image, text: str) -> Image.Image:
    """``image`` with ``text`` in white on a dark band at its foot."""
    framed = image.copy()
    draw = ImageDraw.Draw(framed, "RGBA")
    font = ImageFont.load_default(size=max(10, round(image.height * CAPTION_SHARE)))
    while len(text) > 1 and draw.textlength(text, font=font) > image.width * 0.94:
        text = text[:-2].rstrip() + "…"
    left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
    margin = max(2, (bottom - top) // 3)
    band = image.height - (bottom - top) - 3 * margin
    draw.rectangle((0, band, image.width, image.height), fill=(0, 0, 0, 150))
    draw.text(((image.width - (right - left)) / 2 - left, band + margin - top), text, font=font, fill=(255, 255, 255, 255))
    return framed


class FilmWriter:
    """Streams pictures into an MP4 at ``path``; ``close`` returns the file's bytes, within ``limit``.

    Blending and encoding run on a thread of their own, so they overlap the next steps on the device
    (PyAV lets go of the GIL while x264 works); at most ``QUEUED`` pictures wait for it.
    """

    def __init__(self, path: Path, key_frames: int, limit: int = UPLOAD_LIMIT) -> None:
        self.path, self.limit = path, limit
        self.tween = tween_for(key_frames)
        self.expected = key_frames * self.tween + round(HOLD_SECONDS * FPS)
        self.frames = 0  # frames written so far
        self._container: av.container.OutputContainer | None = None
        self._stream = None
        self._last: np.ndarray | None = None
        self._pictures: queue.Queue[tuple[Image.Image, str] | None] = queue.Queue(QUEUED)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._encoder, name="film encoder", daemon=True)
        self._thread.start()

    def add(self, image: Image.Image, caption: str = "") -> None:
        """One key frame, after the cross-fade from the one before."""
        if self._error is None:
            self._pictures.put((image, caption))

    def close(self) -> bytes | None:
        """Hold the last picture, finish the file, and return it (None: no frame came)."""
        self._stop_encoder()
        if self._error is not None:
            raise self._error
        if self._container is None or self._last is None:
            return None
        for _ in range(round(HOLD_SECONDS * FPS)):
            self._encode(self._last)
        for packet in self._stream.encode():
            self._container.mux(packet)
        self._container.close()
        self._container = None
        fit(self.path, self.limit)
        return self.path.read_bytes()

    def discard(self) -> None:
        """Stop the encoder and drop the film (a cancelled or failed run); harmless after ``close``."""
        self._stop_encoder()
        if self._container is not None:
            with contextlib.suppress(Exception):
                self._container.close()
            self._container = None

    def _stop_encoder(self) -> None:
        if self._thread.is_alive():
            self._pictures.put(None)
            self._thread.join()

    def _encoder(self) -> None:
        while (item := self._pictures.get()) is not None:
            if self._error is None:
                try:
                    self._add(*item)
                except BaseException as error:  # raised again by close(), in the caller's thread
                    self._error = error

    def _open(self, size: tuple[int, int]) -> None:
        cap = cap_bits(self.limit, self.expected)
        self._container = open_film(self.path)
        self._stream = h264_stream(self._container, size, {"crf": CRF, "maxrate": str(cap), "bufsize": str(2 * cap)})

    def _add(self, image: Image.Image, caption: str) -> None:
        if self._container is None:
            self._open(even(image.size))
        assert self._stream is not None
        size = (self._stream.width, self._stream.height)
        image = image.convert("RGB") if image.size == size else image.convert("RGB").resize(size, Image.Resampling.LANCZOS)
        frame = np.asarray(captioned(image, caption) if caption else image)
        if self._last is not None:
            for k in range(1, self.tween):
                self._encode(self._last + (frame.astype(np.float32) - self._last) * (k / self.tween))
        self._encode(frame)
        self._last = frame.astype(np.float32)

    def _encode(self, frame: np.ndarray) -> None:
        assert self._container is not None and self._stream is not None
        video_frame = av.VideoFrame.from_ndarray(np.clip(frame, 0, 255).round().astype(np.uint8), format="rgb24")
        for packet in self._stream.encode(video_frame):
            self._container.mux(packet)
        self.frames += 1


def open_film(path: Path) -> av.container.OutputContainer:
    """An MP4 to write, its index moved to the front when it is closed (fast start)."""
    return av.open(str(path), "w", format="mp4", options={"movflags": "+faststart"})


def h264_stream(container: av.container.OutputContainer, size: tuple[int, int], options: dict[str, str]):
    """The film's one stream: H.264 in yuv420p at ``FPS``, x264's ``veryfast`` preset plus ``options``."""
    stream = container.add_stream("libx264", rate=FPS)
    stream.width, stream.height = size
    stream.pix_fmt = "yuv420p"
    stream.options = {"preset": "veryfast", **options}
    return stream


def cap_bits(limit: int, frames: int) -> int:
    """Bits per second that keep ``frames`` at ``FPS`` within ``HEADROOM`` of ``limit`` bytes."""
    return max(50_000, int(limit * 8 * HEADROOM / (max(frames, 1) / FPS)))


def fit(path: Path, limit: int) -> None:
    """Encode the film at ``path`` again, at a lower rate and then at half the size, until it is at most ``limit`` bytes."""
    scale, tries = 1.0, 0
    while path.stat().st_size > limit and tries < 6:
        tries += 1
        with av.open(str(path)) as probe:
            stream = probe.streams.video[0]
            frames, size = stream.frames, (stream.width, stream.height)
        rate = int(cap_bits(limit, frames) * 0.8**tries)
        if rate <= 50_000 or tries > 3:
            scale /= 2
        shrunk = even((max(MIN_SIDE, round(size[0] * scale)), max(MIN_SIDE, round(size[1] * scale))))
        log.info("the film is %d bytes, over %d: encoding it again at %d bit/s, %dx%d", path.stat().st_size, limit, rate, *shrunk)
        with tempfile.TemporaryDirectory() as folder:
            again = Path(folder) / "film.mp4"
            _transcode(path, again, rate, shrunk)
            shutil.move(again, path)


def _transcode(source: Path, target: Path, rate: int, size: tuple[int, int]) -> None:
    with av.open(str(source)) as reader, open_film(target) as writer:
        stream = h264_stream(writer, size, {"maxrate": str(rate), "bufsize": str(rate)})
        stream.bit_rate = rate
        for frame in reader.decode(video=0):
            picture = frame.reformat(width=size[0], height=size[1], format="yuv420p")
            picture.pts, picture.time_base = None, Fraction(1, FPS)
            for packet in stream.encode(picture):
                writer.mux(packet)
        for packet in stream.encode():
            writer.mux(packet)
