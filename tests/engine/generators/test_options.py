"""Every option a family declares changes the picture, and only the option: each is rendered against the
same request without it (same seed, same steps), and the request without it against itself.

A new option without a row here fails ``test_every_declared_option_has_a_row``, so an option that the
painter never receives cannot be added silently.
"""

from __future__ import annotations

import re

import pytest
import torch

from contract.families import FAMILIES
from engine.generators.pixels import PixelsGenerator
from engine.generators.style_clip import StyleGANGenerator
from tests.support.painters import CPU, SMALL_SIREN, request
from tests.support.pictures import pixels

CODEBOOK = {"sampling": "codebook"}
SEEDED = {"start_seed": 5}
# (family, option): (model, size, the options without it, the options with it at a value away from its default)
ROWS = {
    ("vqgan", "sampling"): ("tiny-vqgan", 32, {}, CODEBOOK),
    ("vqgan", "codebook_temperature"): ("tiny-vqgan", 32, CODEBOOK, CODEBOOK | {"codebook_temperature": 5.0}),
    ("biggan", "truncation"): ("tiny-biggan", 64, {}, {"truncation": 0.3}),
    ("biggan", "max_classes"): ("tiny-biggan", 64, {}, {"max_classes": 2}),
    ("biggan", "class_temperature"): ("tiny-biggan", 64, {"max_classes": 2}, {"max_classes": 2, "class_temperature": 20.0}),
    ("biggan", "ema_decay"): ("tiny-biggan", 64, {}, {"ema_decay": 0.5}),
    ("biggan", "start_class"): ("tiny-biggan", 64, {}, {"start_class": 3}),
    ("dvae", "token_temperature"): ("tiny-dvae", 32, {}, {"token_temperature": 5.0}),
    ("clipdraw", "strokes"): ("clipdraw", 32, {}, {"strokes": 12}),
    ("clipdraw", "min_width"): ("clipdraw", 32, {}, {"min_width": 6.0}),
    ("clipdraw", "max_width"): ("clipdraw", 32, {}, {"max_width": 3.0}),
    ("clipdraw", "background"): ("clipdraw", 32, {}, {"background": "black"}),
    ("stylegan", "truncation_psi"): ("tiny-stylegan2", 64, SEEDED, SEEDED | {"truncation_psi": 0.2}),
    ("stylegan", "start_seed"): ("tiny-stylegan2", 64, {}, SEEDED),
    ("stylegan", "noise"): ("tiny-stylegan2", 64, {}, {"noise": "optimize"}),
    ("siren", "layers"): ("siren", 32, SMALL_SIREN, SMALL_SIREN | {"layers": 3}),
    ("siren", "hidden_width"): ("siren", 32, SMALL_SIREN, SMALL_SIREN | {"hidden_width": 32}),
    ("siren", "w0"): ("siren", 32, SMALL_SIREN, SMALL_SIREN | {"w0": 5.0}),
    ("pixels", "decay_power"): ("pixels", 32, {}, {"decay_power": 2.5}),
}


def test_every_declared_option_has_a_row():
    declared = {(family.name, option.name) for family in FAMILIES.values() for option in family.options}
    assert declared == set(ROWS)


@pytest.mark.parametrize(("model", "size", "without", "with_it"), ROWS.values(), ids=[f"{f}-{o}" for f, o in ROWS])
def test_an_option_changes_the_picture_and_nothing_else_does(engine, model, size, without, with_it):
    plain = engine.render(request(model, size, without, steps=2))
    control = engine.render(request(model, size, without, steps=2))
    changed = engine.render(request(model, size, with_it, steps=2))
    assert pixels(plain.png) == pixels(control.png) and plain.losses == control.losses
    assert pixels(changed.png) != pixels(plain.png)
    assert changed.request.options == with_it, "the picture's request records the option"


def test_truncation_psi_pulls_a_seeds_start_towards_the_average_by_its_factor(engine):
    """w = w_avg + psi (w_seed - w_avg): psi 1 is the seed's own w, 0 the average, 0.5 half way."""
    net = engine.network("tiny-stylegan2")
    average = net.mapping.w_avg.expand(1, net.num_ws, -1)
    start = {psi: StyleGANGenerator(net, 64, 64, CPU, truncation_psi=psi, start_seed=5).ws.detach() for psi in (0.0, 0.5, 1.0)}
    assert (start[1.0] - average).abs().mean() > 0.1, "the seed's w is far enough from the average to tell"
    torch.testing.assert_close(start[0.5] - average, 0.5 * (start[1.0] - average))
    torch.testing.assert_close(start[0.0], average)
    other = StyleGANGenerator(net, 64, 64, CPU, truncation_psi=1.0, start_seed=6).ws.detach()
    assert not torch.allclose(other, start[1.0]), "another seed, another start"


def test_decay_power_moves_the_pixels_energy_to_low_frequencies():
    """Lucid's Fourier image scales each frequency by 1/f^decay_power: a higher power, a smoother start.

    Roughness (mean squared neighbour difference over the variance) measured at seeds 1-2: power 0 gives
    1.99-2.01, power 1 0.57-0.62, power 2.5 0.012-0.015; the same power twice gives the same figure.
    """

    def roughness(decay_power: float) -> float:
        torch.manual_seed(1)
        x = PixelsGenerator(None, 64, 64, CPU, decay_power=decay_power).decode().detach()[0]
        return float((x[:, :, 1:] - x[:, :, :-1]).square().mean() / x.var())

    assert roughness(0.0) > 2 * roughness(1.0) > 20 * roughness(2.5)


def test_clipdraw_draws_as_many_strokes_as_asked_as_wide_as_asked_on_the_asked_background(engine):
    black = engine.render(request("clipdraw", 32, {"strokes": 12, "background": "black", "min_width": 6, "max_width": 8}))
    white = engine.render(request("clipdraw", 32, {"strokes": 30}))
    assert black.svg.count("<path") == 12 and white.svg.count("<path") == 30
    assert '<rect width="32" height="32" fill="rgb(0,0,0)"/>' in black.svg
    assert '<rect width="32" height="32" fill="rgb(255,255,255)"/>' in white.svg
    widths = [float(w) for w in re.findall(r'stroke-width="([0-9.]+)"', black.svg)]
    assert len(widths) == 12 and all(6 <= w <= 8 for w in widths)
    assert min(float(w) for w in re.findall(r'stroke-width="([0-9.]+)"', white.svg)) < 6, "the control's range is wider"
