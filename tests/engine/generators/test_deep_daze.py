"""Deep Daze's painter: without an encoder, an init image is fitted by the SIREN network itself."""

from __future__ import annotations

import torch

from engine.generators.deep_daze import SirenGenerator
from tests.support.painters import CPU, SMALL_SIREN


def test_siren_fits_a_picture_when_priming():
    torch.manual_seed(0)
    generator = SirenGenerator(None, 32, 32, CPU, **SMALL_SIREN)
    ys, xs = torch.meshgrid(torch.linspace(0, 1, 32), torch.linspace(0, 1, 32), indexing="ij")
    target = torch.stack((xs, ys, 1 - xs)).mul(0.8).add(0.1)[None]
    before = torch.nn.functional.mse_loss(generator.image(), target).item()
    generator.init_from_image(target)
    after = torch.nn.functional.mse_loss(generator.image(), target).item()
    assert after < before / 5
