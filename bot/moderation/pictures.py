"""The picture check: what a trained detector finds in a picture before the bot posts it.

CLIP-steered painters follow a prompt's meaning, not its words, so a banned-word list cannot keep explicit
pictures out of a channel; a detector that looks at the pixels can. NudeNet (the optional ``safety`` extra:
its model is AGPL-3.0) finds exposed anatomy, and only that: not gore, weapons or hate symbols. Its ONNX
model runs on the CPU in about 30 ms a picture, in a worker thread, so the event loop never waits on it.
"""

from __future__ import annotations

import asyncio
import io
import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from PIL import Image, UnidentifiedImageError

from contract.limits import MAX_IMAGE_PIXELS

log = logging.getLogger(__name__)

# NudeNet's labels that make a picture explicit; the others (faces, covered parts, feet) are reported, not flagged.
EXPLICIT = frozenset(
    {"FEMALE_GENITALIA_EXPOSED", "MALE_GENITALIA_EXPOSED", "FEMALE_BREAST_EXPOSED", "BUTTOCKS_EXPOSED", "ANUS_EXPOSED"}
)
DEFAULT_THRESHOLD = 0.5  # NudeNet's score from which an explicit label flags the picture
SAFETY_EXTRA = "pip install 'dreambot[safety]'"
MAX_FILM_FRAMES = 100_000  # far above any film the engine makes (a 100-frame zoom is about 1,500)
FORMATS = ("PNG", "JPEG", "WEBP")  # what the engine and the bot make: previews, finals, a film's frames


class CheckUnavailable(Exception):
    """The check cannot run here (its package is missing); the message says how to install it."""


@dataclass(frozen=True)
class Finding:
    label: str
    score: float

    def __str__(self) -> str:
        return f"{self.label} {self.score:.2f}"


@dataclass(frozen=True)
class Verdict:
    """What the checks found in a picture (strongest first) and whether that flags it."""

    flagged: bool = False
    findings: tuple[Finding, ...] = ()

    def __str__(self) -> str:
        return ", ".join(map(str, self.findings)) or "nothing"

    @classmethod
    def join(cls, verdicts: Sequence[Verdict]) -> Verdict:
        """One verdict for several pictures (a set's candidates, a film's frames): flagged if any is, each label
        at its highest score."""
        best: dict[str, float] = {}
        for finding in (f for verdict in verdicts for f in verdict.findings):
            best[finding.label] = max(best.get(finding.label, 0.0), finding.score)
        findings = tuple(sorted((Finding(k, v) for k, v in best.items()), key=lambda f: -f.score))
        return cls(any(verdict.flagged for verdict in verdicts), findings)


def concept_verdict(scores: Mapping[str, float], threshold: float) -> Verdict:
    """The CLIP check's verdict (``contract/concepts.py``): flagged when a concept scores ``threshold`` or more."""
    findings = tuple(sorted((Finding(f"CLIP {c}", s) for c, s in scores.items()), key=lambda f: -f.score))
    return Verdict(any(f.score >= threshold for f in findings), findings)


class PictureCheck(Protocol):
    """One detector. ``check`` blocks (it computes): ``Checker`` calls it in a worker thread."""

    name: str

    def check(self, image: Image.Image) -> Verdict: ...


class NudeNet:
    """NudeNet's detector, loaded at its first picture (the package is imported only then)."""

    name = "nudenet"

    def __init__(self, threshold: float = DEFAULT_THRESHOLD) -> None:
        self.threshold = threshold
        self._detector = None
        self._lock = threading.Lock()  # one load, and one ONNX session run at a time

    @staticmethod
    def available() -> bool:
        try:
            import nudenet  # noqa: F401
        except ImportError:
            return False
        return True

    def check(self, image: Image.Image) -> Verdict:
        import numpy as np

        with self._lock:
            if self._detector is None:
                try:
                    from nudenet import NudeDetector
                except ImportError:
                    raise CheckUnavailable(f"the picture check needs NudeNet: {SAFETY_EXTRA}") from None
                self._detector = NudeDetector()
            found = self._detector.detect(np.asarray(image.convert("RGBA")))  # RGBA: the order it converts from
        best: dict[str, float] = {}
        for detection in found:
            best[detection["class"]] = max(best.get(detection["class"], 0.0), float(detection["score"]))
        findings = tuple(sorted((Finding(k, v) for k, v in best.items()), key=lambda f: -f.score))
        return Verdict(any(f.label in EXPLICIT and f.score >= self.threshold for f in findings), findings)


def decode(data: bytes) -> Image.Image:
    """A picture the bot is about to post, decoded within the pixel limit (a worker's bytes may be hostile);
    ``ValueError`` says why it cannot be."""
    try:
        with Image.open(io.BytesIO(data), formats=FORMATS) as image:
            if image.width * image.height > MAX_IMAGE_PIXELS:
                raise ValueError(f"it is {image.width}x{image.height}, more than {MAX_IMAGE_PIXELS} pixels")
            return image.convert("RGB")
    except UnidentifiedImageError:
        raise ValueError("it is not a PNG, JPEG or WebP picture") from None
    except (OSError, Image.DecompressionBombError) as error:
        raise ValueError(str(error)) from None


def film_frames(mp4: bytes, samples: int) -> list[Image.Image]:
    """``samples`` frames spread over a film, its last included (where a zoom or story ends). The frames are
    counted first without decoding, so only the chosen ones are ever held."""
    import av

    with av.open(io.BytesIO(mp4), mode="r") as container:
        stream = container.streams.video[0]
        if stream.width * stream.height > MAX_IMAGE_PIXELS:
            raise ValueError(f"the film is {stream.width}x{stream.height}, more than {MAX_IMAGE_PIXELS} pixels")
        count = sum(1 for packet in container.demux(stream) if packet.size)
    if count > MAX_FILM_FRAMES:
        raise ValueError(f"the film has {count} frames, more than {MAX_FILM_FRAMES}")
    chosen = {round(i * (count - 1) / max(1, samples - 1)) for i in range(min(samples, count))}
    with av.open(io.BytesIO(mp4), mode="r") as container:
        frames = container.decode(container.streams.video[0])
        return [frame.to_image() for number, frame in enumerate(frames) if number in chosen]


class Checker:
    """Runs every configured check on what the bot is about to post, in a worker thread. A picture that cannot
    be decoded or checked counts as flagged: what was not seen is not shown."""

    def __init__(self, checks: Sequence[PictureCheck], film_samples: int = 8) -> None:
        self.checks = tuple(checks)
        self.film_samples = film_samples

    def __bool__(self) -> bool:
        return bool(self.checks)

    async def picture(self, data: bytes) -> Verdict:
        return await self.pictures([data])

    async def pictures(self, pictures: Sequence[bytes]) -> Verdict:
        return await asyncio.to_thread(self._checked, lambda: [decode(data) for data in pictures])

    async def film(self, mp4: bytes) -> Verdict:
        return await asyncio.to_thread(self._checked, lambda: film_frames(mp4, self.film_samples))

    def _checked(self, images: Callable[[], list[Image.Image]]) -> Verdict:
        if not self.checks:
            return Verdict()
        try:
            return Verdict.join([check.check(image) for image in images() for check in self.checks])
        except CheckUnavailable:
            raise
        except Exception as error:  # unreadable, or the detector failed: not shown unchecked
            log.warning("a picture could not be checked (%s); it counts as flagged", error)
            return Verdict(True, (Finding("UNCHECKED", 1.0),))
