"""The CLIP zero-shot check on the engine's side: a job's pictures (its previews, its result, a set's candidates)
scored against the concepts its server named, with the perceptor the engine already holds (``contract/concepts.py``
says how a score is made). One image pass per picture at the perceptor's input size: a small share of a step's
cost, which runs over dozens of cutouts."""

from __future__ import annotations

import io
import logging
from collections.abc import Callable, Sequence
from dataclasses import replace

import torch
from PIL import Image

from contract.concepts import NEUTRAL_PROMPTS, concept_scores
from contract.protocol import Event, Finished, Progress
from engine.images import image_tensor, resize_image
from engine.perceptor import AnyPerceptor

log = logging.getLogger(__name__)


class ConceptScorer:
    """Scores pictures with one perceptor; the text embeddings of the neutral prompts and the concepts are made
    once per perceptor and kept."""

    def __init__(self, perceptor: AnyPerceptor, device: torch.device) -> None:
        self.perceptor = perceptor
        self.device = device
        self._texts: dict[str, torch.Tensor] = {}

    def _embeds(self, texts: Sequence[str]) -> torch.Tensor:
        new = [text for text in dict.fromkeys(texts) if text not in self._texts]
        if new:
            for text, embed in zip(new, self.perceptor.encode_text(new), strict=True):
                self._texts[text] = embed
        return torch.stack([self._texts[text] for text in texts])

    @torch.no_grad()
    def image_embed(self, image: Image.Image) -> torch.Tensor:
        """``image``'s embedding, centre-cropped to the perceptor's square as CLIP was trained."""
        side = self.perceptor.input_size
        return self.perceptor.encode_image(resize_image(image_tensor(image.convert("RGB"), self.device), side, side))[0]

    def similarities(self, image: Image.Image, texts: Sequence[str]) -> list[float]:
        """The cosine similarity of ``image`` to each text; an ensemble's is the mean of its members'."""
        return (self._embeds(texts) @ self.image_embed(image) / len(self.perceptor.parts)).tolist()

    def scores(self, image: Image.Image, concepts: Sequence[str]) -> dict[str, float]:
        similarities = self.similarities(image, [*NEUTRAL_PROMPTS, *concepts])
        neutral, own = similarities[: len(NEUTRAL_PROMPTS)], similarities[len(NEUTRAL_PROMPTS) :]
        return concept_scores(dict(zip(concepts, own, strict=True)), neutral)

    def pictures(self, pictures: Sequence[bytes], concepts: Sequence[str]) -> dict[str, float]:
        """Each concept's highest score over ``pictures`` (a set's candidates: the set is as flagged as its worst)."""
        best: dict[str, float] = {}
        for data in pictures:
            with Image.open(io.BytesIO(data)) as image:
                for concept, score in self.scores(image, concepts).items():
                    best[concept] = max(best.get(concept, 0.0), score)
        return best


def scored(
    send: Callable[[Event], None], scorer: Callable[[], ConceptScorer], concepts: Sequence[str]
) -> Callable[[Event], None]:
    """``send`` with the concepts' scores added to every preview and every result; ``send`` itself when no concept
    is asked. ``scorer`` is called at the first picture, so a job that fails before one loads nothing more."""
    if not concepts:
        return send

    def send_scored(event: Event) -> None:
        if isinstance(event, Progress) and event.preview is not None:
            event = _with_scores(event, scorer().pictures([event.preview], concepts))
        elif isinstance(event, Finished):
            event = _with_scores(event, scorer().pictures(event.candidates or [event.png], concepts))
        send(event)

    return send_scored


def _with_scores(event: Progress | Finished, scores: dict[str, float]) -> Progress | Finished:
    return replace(event, concepts={concept: round(score, 4) for concept, score in scores.items()})


def embedded(send: Callable[[Event], None], scorer: Callable[[], ConceptScorer]) -> Callable[[Event], None]:
    """``send`` with each result's image embedding added (the gallery's "more like this"), by the job's perceptor.
    A description's picture is the member's, not a painting: it has none. An embedding that fails costs the job
    nothing but its place among the likenesses."""

    def send_embedded(event: Event) -> None:
        if isinstance(event, Finished) and event.png and not event.description:
            try:
                with Image.open(io.BytesIO(event.png)) as image:
                    vector = scorer().image_embed(image)
                event = replace(event, embedding=[round(float(v), 6) for v in vector.float().cpu()])
            except Exception:
                log.exception("job %s: its picture's embedding could not be made", event.job_id)
        send(event)

    return send_embedded
