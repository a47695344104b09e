"""The Big Sleep's painter: BigGAN's own size, its options, class choice and the averaged picture."""

from __future__ import annotations

import io

import pytest
import torch
from PIL import Image

from contract.errors import BadRequest
from engine.generators.big_sleep import BigGANGenerator, soft_top_k
from engine.networks import biggan, tiny
from tests.support.painters import CPU, request


def test_biggan_paints_its_own_size_and_records_options(engine):
    result = engine.render(request("tiny-biggan", 64, {"truncation": 0.5, "max_classes": 3}))
    png = Image.open(io.BytesIO(result.png))
    assert png.size == (64, 64)
    line = png.text["parameters"].split("\n")[1]
    for part in (
        "Model: tiny-biggan",
        "LR: 0.07",
        "Truncation: 0.5",
        "Max classes: 3",
        "Class temperature: 2.0",
        "Ema decay: 0.99",
    ):
        assert part in line
    assert "Start class" not in line  # off by default, so not written


def test_generator_checks_what_only_the_network_knows():
    net = biggan.build({**tiny.TINY_BIGGAN_CONFIG, "num_classes": 10})
    with pytest.raises(BadRequest, match="max_classes must be at most 10"):
        BigGANGenerator(net, 64, 64, CPU, max_classes=11)
    with pytest.raises(BadRequest, match="start_class must be below 10"):
        BigGANGenerator(net, 64, 64, CPU, start_class=10)


def test_soft_top_k_mixes_at_most_k_classes():
    logits = torch.randn(3, 50)
    weights = soft_top_k(logits, 4, temperature=0.5)
    chosen = [set(row.nonzero().flatten().tolist()) for row in weights]
    assert chosen == [set(row.topk(4).indices.tolist()) for row in logits]
    assert ((weights >= 0) & (weights <= 1)).all()


def test_biggan_start_class_and_average(engine):
    net = engine.network("tiny-biggan")
    torch.manual_seed(0)
    started = BigGANGenerator(net, 64, 64, CPU, start_class=207, max_classes=2)
    assert (started._class_weights(started.logits).argmax(dim=1) == 207).all()
    averaged = BigGANGenerator(net, 64, 64, CPU, ema_decay=0.9)
    plain = BigGANGenerator(net, 64, 64, CPU, ema_decay=0.0)
    for generator in (averaged, plain):
        optimizer = torch.optim.Adam(generator.parameters(), lr=0.1)
        for _ in range(3):
            optimizer.zero_grad()
            generator.decode().mean().backward()
            optimizer.step()
            generator.after_step()
    with torch.no_grad():
        torch.testing.assert_close(plain.image(), plain.decode())
        assert not torch.allclose(averaged.image(), averaged.decode())
