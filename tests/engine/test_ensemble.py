"""CLIP ensembles (``A+B``): each member judges at its own size and normalization, and their losses are averaged."""

from __future__ import annotations

import pytest
import torch

from engine.cutouts import MakeCutouts
from engine.loop import Target, target_loss
from tests.support.painters import request
from tests.support.pictures import pixels
from tests.support.steering import STEERED_GAP, steering_gap

PAIR = "tiny-clip+tiny-clip-48"


def test_an_ensemble_averages_what_each_member_would_say_alone(engine):
    """The members differ in input size (64, 48) and embedding width (32, 24); the ensemble's loss on the
    same cutouts is the mean of theirs, each member seeing the cutouts resized to its own input."""
    big, small = engine.perceptor("tiny-clip"), engine.perceptor("tiny-clip-48")
    ensemble = engine.perceptor(PAIR)
    assert (big.input_size, small.input_size, ensemble.input_size) == (64, 48, 64)
    assert ensemble.parts == (32, 24)
    torch.manual_seed(0)
    cutouts = MakeCutouts(64, 8)(torch.rand(1, 3, 64, 64))
    texts = ["a red barn", "the sea at night"]
    small_cutouts = torch.nn.functional.interpolate(cutouts, size=(48, 48), mode="bilinear", antialias=True)
    for i in range(len(texts)):
        alone = [
            target_loss(member.encode_image(x), Target(member.encode_text(texts)[i : i + 1]))
            for member, x in ((big, cutouts), (small, small_cutouts))
        ]
        together = target_loss(ensemble.encode_image(cutouts), Target(ensemble.encode_text(texts)[i : i + 1]), ensemble.parts)
        assert together.item() == pytest.approx((alone[0].item() + alone[1].item()) / 2, rel=1e-5)
        assert abs(alone[0].item() - alone[1].item()) > 0.01, "the members disagree, so the mean is not either one"


def test_an_ensemble_steers_a_render_and_repeats_it(engine):
    """Gaps measured for pixels at 30 steps, seeds 3-8: 0.031-0.036 (tiny-clip-48 alone: 0.036-0.044)."""
    assert steering_gap(engine, request("pixels", 64, {}, perceptor=PAIR, steps=30)) > STEERED_GAP
    short = request("pixels", 64, {}, perceptor=PAIR)
    assert pixels(engine.render(short).png) == pixels(engine.render(short).png)


def test_noise_prompts_are_unit_length_in_each_member(engine):
    """A noise prompt is a random point of each member's sphere, as an embedding of the ensemble would be."""
    targets = engine._extra_targets(request("pixels", 64, {}, noise_prompts=("7:1",)), engine.perceptor(PAIR), None, 56)
    big, small = targets[0].embeds.split((32, 24), dim=-1)
    assert big.norm().item() == pytest.approx(1) and small.norm().item() == pytest.approx(1)
