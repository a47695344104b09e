"""4x upscaling with Real-ESRGAN's layout read by spandrel: sizes, seamless tiles, parameters kept,
and a release file that would run code refused."""

from __future__ import annotations

import io

import pytest
import torch
from PIL import Image

from contract import parameters
from contract.errors import BadRequest, WeightsError
from contract.models import ESRGAN_WEIGHTS
from contract.registry import REALESRGAN_X4PLUS_SHA256, lookup
from engine import output
from engine.pipeline import Engine
from engine.upscale import upscale_png, upscale_tensor
from engine.weights import WeightStore
from tests.support.checkpoints import RunsCode


def picture_png(size: tuple[int, int], text: str | None = None) -> bytes:
    image = Image.effect_noise(size, 60).convert("RGB")
    return output.png_bytes(image, text) if text else output.png_bytes(image, "")


def test_the_release_is_registered_with_its_official_url_and_checksum():
    spec = lookup("realesrgan-x4plus")
    (file,) = spec.files
    assert file.name == ESRGAN_WEIGHTS == "RealESRGAN_x4plus.pth"
    assert file.urls[0] == "https://github.com/xinntao/Real-ESRGAN/releases/download/v0.1.0/RealESRGAN_x4plus.pth"
    assert file.urls[1] == "https://huggingface.co/lllyasviel/Annotators/resolve/main/RealESRGAN_x4plus.pth"
    assert file.sha256 == REALESRGAN_X4PLUS_SHA256 and len(file.sha256) == 64
    assert lookup("tiny-esrgan").synthetic


def test_tiles_with_enough_context_give_the_whole_pictures_result(engine):
    network = engine.upscaler("tiny-esrgan")
    image = torch.rand(1, 3, 20, 28)
    whole = network(image).clamp(0, 1)
    tiled = upscale_tensor(network, image, tile=8, margin=24)
    assert tiled.shape == (1, 3, 80, 112)
    assert torch.allclose(tiled, whole, atol=1e-5)
    seams = upscale_tensor(network, image, tile=8, margin=0)  # no context: the tile edges differ
    assert not torch.allclose(seams, whole, atol=1e-3)


def test_an_upscaled_png_is_four_times_larger_and_keeps_and_extends_its_parameters(engine):
    recorded = "a castle\nSteps: 30, Seed: 7, Size: 32x24, Model: tiny-vqgan, Version: dreambot 0.1.0"
    image, png = upscale_png(engine, picture_png((32, 24), recorded), "tiny-esrgan")
    assert image.size == (128, 96)
    text = Image.open(io.BytesIO(png)).text["parameters"]
    assert text == f"{recorded}, Upscale: tiny-esrgan 4x"
    assert parameters.read(text)["seed"] == 7  # painting it again paints the picture before the upscale
    _, plain = upscale_png(engine, picture_png((16, 16)), "tiny-esrgan")
    assert Image.open(io.BytesIO(plain)).text["parameters"] == "Upscale: tiny-esrgan 4x"


@pytest.mark.parametrize(
    ("data", "model", "message"),
    [
        (picture_png((16, 16)), "tiny-vqgan", "unknown upscaler 'tiny-vqgan'"),
        (b"not a picture", "tiny-esrgan", "^the picture could not be read: it is not a PNG, JPEG or WebP picture$"),
        (picture_png((1025, 8)), "tiny-esrgan", "up to 1024 a side"),
    ],
)
def test_bad_upscales_are_refused_with_the_reason(engine, data, model, message):
    with pytest.raises(BadRequest, match=message):
        upscale_png(engine, data, model)


def test_a_release_file_that_would_run_code_is_refused_and_nothing_runs(tmp_path):
    store = WeightStore(tmp_path / "weights")
    folder = store.folder(lookup("tiny-esrgan"))
    folder.mkdir(parents=True)
    marker = tmp_path / "ran"
    torch.save({"params_ema": RunsCode(marker)}, folder / ESRGAN_WEIGHTS)
    with pytest.raises(WeightsError, match="corrupt, incomplete or unsafe"):
        Engine(store, "cpu").upscaler("tiny-esrgan")
    assert not marker.exists()
