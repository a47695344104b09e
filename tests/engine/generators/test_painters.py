"""Every painter through the same engine as VQGAN, on tiny settings: the prompt steers, seeds repeat, options are checked."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from contract.errors import BadRequest
from tests.support.painters import PAINTERS, SMALL_SIREN, request
from tests.support.pictures import pixels
from tests.support.steering import STEERED_GAP, steering_gap


@pytest.mark.parametrize(("model", "size", "options"), PAINTERS)
def test_the_prompt_pulls_the_loss_down_over_30_steps(engine, model, size, options):
    """Measured gaps at seed 3: tiny-biggan 0.033, siren 0.023, pixels 0.070 (tests/support/steering.py)."""
    assert steering_gap(engine, request(model, size, options, steps=30)) > STEERED_GAP


@pytest.mark.parametrize(("model", "size", "options"), PAINTERS)
def test_same_seed_same_pixels(engine, model, size, options):
    first = engine.render(request(model, size, options))
    again = engine.render(request(model, size, options))
    other = engine.render(request(model, size, options, seed=4))
    assert pixels(first.png) == pixels(again.png) and first.losses == again.losses
    assert pixels(first.png) != pixels(other.png)


@pytest.mark.parametrize(("model", "width", "height"), [("siren", 48, 32), ("pixels", 40, 24), ("pixels", 33, 17)])
def test_any_size(engine, model, width, height):
    options = SMALL_SIREN if model == "siren" else {}
    result = engine.render(request(model, 0, options, width=width, height=height, steps=2))
    assert Image.open(io.BytesIO(result.png)).size == (width, height)


@pytest.mark.parametrize(
    ("model", "size", "options", "message"),
    [
        ("tiny-biggan", 128, {}, r"tiny-biggan paints 64x64 only, not 128x128; .*256x256 \(biggan-deep-256\)"),
        ("biggan-deep-256", 512, {}, "biggan-deep-256 paints 256x256 only"),
        ("tiny-biggan", 64, {"max_classes": 0}, "max_classes must be between 1 and 1000, not 0"),
        ("tiny-biggan", 64, {"max_classes": 1001}, "max_classes must be between 1 and 1000, not 1001"),
        ("tiny-biggan", 64, {"max_classes": 2.5}, "max_classes must be a whole number"),
        ("tiny-biggan", 64, {"truncation": 0}, "truncation must be above 0 and at most 1"),
        ("tiny-biggan", 64, {"ema_decay": 1}, "ema_decay must be at least 0 and below 1"),
        ("tiny-biggan", 64, {"start_class": 1000}, "start_class must be an ImageNet class index"),
        ("tiny-biggan", 64, {"w0": 10}, "tiny-biggan has no option 'w0'; its options are truncation, max_classes"),
        ("siren", 64, {"layers": 1}, "layers must be between 2 and 64"),
        ("siren", 64, {"layers": "many"}, "layers must be a number"),
        ("pixels", 64, {"truncation": 0.5}, "pixels has no option 'truncation'; its options are decay_power"),
        ("tiny-vqgan", 32, {"layers": 4}, "tiny-vqgan has no option 'layers'; its options are sampling, codebook_temperature"),
        ("tiny-vqgan", 32, {"sampling": "random"}, "sampling must be z\\+quantize or codebook, not 'random'"),
        ("tiny-vqgan", 32, {"sampling": 2}, "sampling must be z\\+quantize or codebook, not 2"),
        ("tiny-vqgan", 32, {"sampling": "codebook", "codebook_temperature": 0}, "codebook_temperature must be above 0"),
        ("pixels", 8, {}, "width 8 is out of range: pixels makes sides from 16"),
        ("tiny-dvae", 60, {}, r"the model tiny-dvae makes sides that are multiples of 8; 60x60 is not \(try 64x64\)"),
        ("tiny-dvae", 64, {"token_temperature": 0}, "token_temperature must be above 0 and at most 10, not 0"),
        ("tiny-stylegan2", 128, {}, r"tiny-stylegan2 paints 64x64 only, not 128x128; .*1024x1024 \(stylegan2-ffhq-1024\)"),
        ("tiny-stylegan2", 64, {"truncation_psi": 2}, "truncation_psi must be between 0 and 1, not 2"),
        ("tiny-stylegan2", 64, {"noise": "random"}, "noise must be const or optimize, not 'random'"),
        ("clipdraw", 64, {"strokes": 0}, "strokes must be between 1 and 1024, not 0"),
        ("clipdraw", 64, {"min_width": 8, "max_width": 4}, "min_width 8.0 is above max_width 4.0"),
        ("clipdraw", 64, {"background": "pink"}, "background must be white, black, grey or #rrggbb, not 'pink'"),
        ("clipdraw", 64, {"background": "#12345"}, "background must be white, black, grey or #rrggbb, not '#12345'"),
        ("tiny-dvae", 64, {"sampling": "codebook"}, "tiny-dvae has no option 'sampling'; its options are token_temperature"),
    ],
)
def test_bad_options_are_refused_before_any_work(engine, model, size, options, message):
    with pytest.raises(BadRequest, match=message):
        engine.render(request(model, size, options))


@pytest.mark.parametrize(
    ("model", "options", "gain"),
    [
        ("siren", SMALL_SIREN, 2),
        ("tiny-biggan", {}, 1.05),
        ("clipdraw", {}, 4),
        ("tiny-stylegan2", {}, 2),
        ("tiny-stylegan3", {}, 10),
    ],
)
def test_init_image_primes_painters_without_an_encoder(engine, tmp_path, model, options, gain):
    """SIREN, BigGAN, CLIPDraw and StyleGAN (projected into W+) are fitted to the init image first, so the
    first picture is closer to it.

    A random-weight BigGAN can barely paint a flat colour, so it only has to get closer. CLIPDraw's strokes
    over white: 128 away on average, 7.8 once fitted. The tiny StyleGAN2: 48.4, then 10.6; StyleGAN3: 91.4,
    then 3.1.
    """
    Image.new("RGB", (64, 64), (230, 60, 20)).save(tmp_path / "init.png")
    target = np.array([230, 60, 20], dtype=np.float64)

    def error(result) -> float:
        return float(np.abs(np.asarray(result.image, dtype=np.float64) - target).mean())

    plain = engine.render(request(model, 64, options, steps=1, lr=1e-9))
    primed = engine.render(request(model, 64, options, steps=1, lr=1e-9, init_image=str(tmp_path / "init.png")))
    assert error(primed) < error(plain) / gain
