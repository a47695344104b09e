"""CLIP interrogation: which words the perceptor finds closest to a picture. The medium, movement, artist and flavour
phrases of the vocabularies (``engine/vocabularies/*.txt``, one phrase a line) are ranked by their cosine similarity
to the picture, and the best are assembled into candidate prompts that paint something like it again.

Each vocabulary's text embeddings are made once per perceptor and kept on disk (safetensors, beside the weights),
named by a hash of the vocabulary, so an edited list is embedded again.
"""

from __future__ import annotations

import hashlib
import io
import logging
import time
from collections.abc import Callable
from pathlib import Path

import torch
from PIL import Image
from safetensors.torch import load_file, save_file

from contract.describe import PROMPTS, VOCABULARIES, Description, Phrase, validate_describe
from contract.protocol import RenderRequest
from contract.validation import open_image
from contract.wire import token
from engine.concepts import ConceptScorer

log = logging.getLogger(__name__)

FOLDER = Path(__file__).with_name("vocabularies")
CHUNK = 64  # phrases embedded at once
SHOWN = 5  # phrases of each vocabulary a /describe keeps


def vocabulary(name: str) -> list[str]:
    lines = (FOLDER / f"{name}.txt").read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip()]


class Describer:
    """Interrogates pictures with one perceptor (``scorer``'s), its vocabularies' embeddings cached in ``cache``."""

    def __init__(self, scorer: ConceptScorer, perceptor: str, cache: Path) -> None:
        self.scorer = scorer
        self.folder = cache / "describe" / token(perceptor)
        self._embeds: dict[str, torch.Tensor] = {}

    def embeds(self, name: str) -> torch.Tensor:
        """``[phrases, dim]``: the vocabulary's text embeddings, from the disk when they were made before."""
        if name in self._embeds:
            return self._embeds[name]
        phrases = vocabulary(name)
        digest = hashlib.sha256("\n".join(phrases).encode()).hexdigest()[:16]
        path = self.folder / f"{name}-{digest}.safetensors"
        embeds = None
        if path.exists():
            try:
                embeds = load_file(str(path))["embeds"].to(self.scorer.device)
            except Exception as error:  # a cut or foreign file: made again
                log.warning("the cached embeddings %s could not be read (%s); making them again", path.name, error)
        if embeds is None or embeds.shape[0] != len(phrases):
            perceptor = self.scorer.perceptor
            embeds = torch.cat([perceptor.encode_text(phrases[i : i + CHUNK]) for i in range(0, len(phrases), CHUNK)])
            self.folder.mkdir(parents=True, exist_ok=True)
            save_file({"embeds": embeds.detach().cpu().contiguous()}, str(path))
        self._embeds[name] = embeds
        return embeds

    @torch.no_grad()
    def describe(self, image: Image.Image, top: int = 5) -> Description:
        picture = self.scorer.image_embed(image)
        parts = len(self.scorer.perceptor.parts)
        ranked = {}
        for name in VOCABULARIES:
            scores = (self.embeds(name) @ picture / parts).tolist()
            phrases = vocabulary(name)
            order = sorted(range(len(phrases)), key=lambda i: -scores[i])
            ranked[name] = [Phrase(phrases[i], scores[i]) for i in order]
        return Description({name: phrases[:top] for name, phrases in ranked.items()}, prompts(ranked))


def prompts(ranked: dict[str, list[Phrase]]) -> list[str]:
    """Candidate prompts from the best phrases: the best medium and movement with each of the best artists, and two
    flavours each, so the candidates differ where the perceptor was least sure."""
    mediums, movements, artists, flavours = (ranked[name] for name in VOCABULARIES)
    made = []
    for i in range(min(PROMPTS, len(artists))):
        medium, movement = mediums[i % 2 if len(mediums) > 1 else 0], movements[i // 2 if len(movements) > 1 else 0]
        extras = ", ".join(f.text for f in flavours[2 * i : 2 * i + 2])
        made.append(f"{medium.text}, {movement.text}, by {artists[i].text}" + (f", {extras}" if extras else ""))
    return made


def describe_request(describer: Callable[[str], Describer], request: RenderRequest) -> tuple[bytes, Description, float]:
    """A /describe job (``RenderRequest.describe``): the picture at its request's size as a PNG (what its message
    shows), its description by the request's perceptor (``describer`` of its name: loaded once the request is
    checked), and the seconds it took."""
    start = time.perf_counter()
    validate_describe(request)
    assert request.init_image is not None
    picture = open_image(request.init_image)
    if picture.size != (request.width, request.height):
        picture = picture.resize((request.width, request.height), Image.Resampling.LANCZOS)
    described = describer(request.perceptor).describe(picture, SHOWN)
    buffer = io.BytesIO()
    picture.save(buffer, "PNG")  # the member's picture, without a painting's parameters
    return buffer.getvalue(), described, time.perf_counter() - start
