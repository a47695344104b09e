"""The CLIP zero-shot check in the engine: pictures scored against a job's concepts, previews and results alike."""

from __future__ import annotations

import io
import json

import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from contract.concepts import NEUTRAL_PROMPTS
from contract.protocol import Cancelled, Event, Finished, Progress, RenderRequest, batch_command, render_command
from engine.concepts import ConceptScorer, scored
from engine.worker import Channel, run_job

COLOURS = {"a red thing": (1.0, 0.0, 0.0, 0.0), "a green thing": (0.0, 1.0, 0.0, 0.0), "a blue thing": (0.0, 0.0, 1.0, 0.0)}


class ColourJudge:
    """A perceptor that sees only a picture's mean colour; every neutral prompt points away from all colours."""

    input_size = 8
    parts = (4,)

    def __init__(self) -> None:
        self.texts_encoded: list[str] = []
        self.sizes: list[tuple[int, int]] = []

    def encode_text(self, texts: list[str]) -> torch.Tensor:
        self.texts_encoded += texts
        return F.normalize(torch.tensor([COLOURS.get(t, (0.0, 0.0, 0.0, 1.0)) for t in texts]), dim=-1)

    def encode_image(self, images: torch.Tensor) -> torch.Tensor:
        self.sizes.append(tuple(images.shape[-2:]))
        colour = images.mean((2, 3))
        return F.normalize(torch.cat([colour, torch.full_like(colour[:, :1], 0.3)], dim=1), dim=-1)


def png(colour: tuple[int, int, int], size: tuple[int, int] = (40, 24)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, "PNG")
    return buffer.getvalue()


def test_a_picture_scores_high_on_the_concept_it_shows_and_low_on_the_others():
    judge = ColourJudge()
    scorer = ConceptScorer(judge, torch.device("cpu"))
    red = scorer.pictures([png((255, 0, 0))], ["a red thing", "a green thing"])
    green = scorer.pictures([png((0, 255, 0))], ["a red thing", "a green thing"])
    assert red["a red thing"] > 0.99 and red["a green thing"] < 0.2, red
    assert green["a green thing"] > 0.99 and green["a red thing"] < 0.2, green
    assert judge.sizes == [(8, 8), (8, 8)], "a picture of any shape is brought to the perceptor's square"


def test_a_set_is_scored_as_its_worst_candidate_and_texts_are_encoded_once():
    judge = ColourJudge()
    scorer = ConceptScorer(judge, torch.device("cpu"))
    concepts = ["a red thing", "a blue thing"]
    both = scorer.pictures([png((255, 0, 0)), png((0, 0, 255))], concepts)
    assert both["a red thing"] > 0.99 and both["a blue thing"] > 0.99
    scorer.pictures([png((0, 0, 255))], [*concepts, "a green thing"])
    assert sorted(judge.texts_encoded) == sorted([*NEUTRAL_PROMPTS, *concepts, "a green thing"])


def test_previews_and_results_carry_their_scores_and_nothing_else_changes():
    sent: list[Event] = []
    made: list[ConceptScorer] = []

    def scorer() -> ConceptScorer:
        made.append(ConceptScorer(ColourJudge(), torch.device("cpu")))
        return made[-1]

    send = scored(sent.append, scorer, ("a red thing",))
    send(Progress("j1", 1, 4, 0.5, 0.1))
    assert not made, "the perceptor is not asked before the first picture"
    send(Progress("j1", 2, 4, 0.5, 0.2, preview=png((255, 0, 0))))
    send(Finished("j1", png((0, 255, 0)), 1.0, (0.5,)))
    send(Finished("j1", png((0, 255, 0)), 1.0, candidates=(png((0, 255, 0)), png((250, 0, 0)))))
    send(Cancelled("j1", 3))
    plain, preview, result, grid, cancelled = sent
    assert plain == Progress("j1", 1, 4, 0.5, 0.1) and cancelled == Cancelled("j1", 3)
    assert preview.concepts["a red thing"] > 0.99 and preview.preview == png((255, 0, 0))
    assert result.concepts["a red thing"] < 0.2 and result.png == png((0, 255, 0)) and result.losses == (0.5,)
    assert grid.concepts["a red thing"] > 0.99, "a set's candidates are scored, not its grid"


def test_without_concepts_events_go_out_as_they_were():
    sent: list[Event] = []
    assert scored(sent.append, lambda: pytest.fail("no scorer without concepts"), ()) == sent.append


def events(command: dict, engine) -> list[Event]:
    stream = io.StringIO()
    run_job(engine, command, Channel(stream), set())
    return [Event.from_dict(json.loads(line)) for line in stream.getvalue().splitlines()]


def request(seed: int) -> RenderRequest:
    return RenderRequest("a fairy house", "tiny-vqgan", "tiny-clip", 32, 32, steps=4, seed=seed, cutn=4, preview_every=2)


def test_the_engine_scores_a_jobs_previews_and_result_with_the_loaded_perceptor(engine):
    concepts = ["gore", "a weapon"]
    sent = events(render_command("j1", request(1), concepts=concepts), engine)
    pictures = [e for e in sent if (isinstance(e, Progress) and e.preview) or isinstance(e, Finished)]
    assert len(pictures) == 3 and isinstance(sent[-1], Finished)
    for event in pictures:
        assert set(event.concepts) == set(concepts) and all(0 < s < 1 for s in event.concepts.values())
    assert all(not e.concepts for e in sent if isinstance(e, Progress) and not e.preview)
    again = events(render_command("j1", request(1), concepts=concepts), engine)
    assert again[-1].concepts == sent[-1].concepts, "the same picture gets the same scores"


def test_in_a_batch_only_the_job_that_asked_is_scored(engine):
    sent = events(batch_command([("j1", request(1)), ("j2", request(2))], concepts={"j2": ["gore"]}), engine)
    finals = {e.job_id: e for e in sent if isinstance(e, Finished)}
    assert finals["j1"].concepts == {} and set(finals["j2"].concepts) == {"gore"}
    assert all(final.peak_gib > 0.1 for final in finals.values()), "each result says the engine's peak memory"
    assert all(not e.concepts for e in sent if isinstance(e, Progress) and e.job_id == "j1")
    assert any(e.concepts for e in sent if isinstance(e, Progress) and e.job_id == "j2")


def test_malformed_concepts_fail_the_job_in_words(engine):
    sent = events({**render_command("j1", request(1)), "concepts": "gore"}, engine)
    assert sent[-1].kind == "failed" and sent[-1].reason == "the request was refused: concepts are a list of phrases"
