"""BigGAN, SIREN and the Fourier image through the same engine as VQGAN, on tiny settings."""

from __future__ import annotations

import io
import json
import shutil

import numpy as np
import pytest
import torch
from PIL import Image
from pytorch_pretrained_biggan import BigGAN, BigGANConfig

from engine import biggan, tiny
from engine.errors import BadRequest, WeightsError
from engine.generators.biggan import BigGANGenerator, soft_top_k
from engine.generators.pixels import FourierImage
from engine.generators.siren import SirenGenerator
from engine.pipeline import Engine
from engine.protocol import RenderRequest
from engine.weights import WeightStore, lookup
from tests.support.pictures import pixels

CPU = torch.device("cpu")
SMALL_SIREN = {"layers": 4, "hidden_width": 64}
# Each painter at its tiny smoke-test settings: (model, size, options).
PAINTERS = [("tiny-biggan", 64, {}), ("siren", 64, SMALL_SIREN), ("pixels", 64, {})]


def request(model: str, size: int, options: dict, **overrides) -> RenderRequest:
    values = dict(prompt="the grand canyon in 3d", model=model, perceptor="tiny-clip", width=size, height=size, steps=5, seed=3)
    return RenderRequest(**{**values, "options": options, **overrides})


def noise_image(path, size: int) -> None:
    rng = np.random.default_rng(1)
    Image.fromarray(rng.integers(0, 255, (size, size, 3), dtype=np.uint8)).resize((size, size)).save(path)


@pytest.mark.parametrize(("model", "size", "options"), PAINTERS)
def test_loss_falls_over_30_steps(engine, model, size, options):
    losses = engine.render(request(model, size, options, steps=30)).losses
    assert len(losses) == 30
    assert sum(losses[-5:]) / 5 < sum(losses[:5]) / 5 - 0.005


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
        ("tiny-vqgan", 32, {"layers": 4}, "tiny-vqgan has no option 'layers'; it takes none"),
        ("pixels", 8, {}, "width 8 is out of range: pixels makes sides from 16"),
    ],
)
def test_bad_options_are_refused_before_any_work(engine, model, size, options, message):
    with pytest.raises(BadRequest, match=message):
        engine.render(request(model, size, options))


def test_generator_checks_what_only_the_network_knows():
    net = biggan.build({**tiny.TINY_BIGGAN_CONFIG, "num_classes": 10})
    with pytest.raises(BadRequest, match="max_classes must be at most 10"):
        BigGANGenerator(net, 64, 64, CPU, max_classes=11)
    with pytest.raises(BadRequest, match="start_class must be below 10"):
        BigGANGenerator(net, 64, 64, CPU, start_class=10)


def test_biggan_loader_round_trip(tmp_path):
    """A tiny checkpoint in the official format loads strictly and paints what the library paints."""
    tiny.save_biggan(tmp_path, tiny.TINY_BIGGAN_CONFIG, seed=5)
    assert json.loads((tmp_path / "config.json").read_text())["output_dim"] == 64
    reference = BigGAN(BigGANConfig.from_json_file(str(tmp_path / "config.json")))
    reference.load_state_dict(torch.load(tmp_path / "pytorch_model.bin", weights_only=True))
    reference.eval()
    loaded = biggan.load_biggan(tmp_path)
    assert not any(p.requires_grad for p in loaded.parameters())

    torch.manual_seed(0)
    z = torch.randn(1, 16)
    classes = torch.zeros(1, 1000)
    classes[0, 207] = 1.0
    with torch.no_grad():
        expected = reference(z, classes, 0.4)
        same_rows = biggan.num_latents(loaded)
        ours = biggan.paint(loaded, z.expand(same_rows, -1), classes.expand(same_rows, -1), 0.4)
    assert expected.shape == (1, 3, 64, 64)
    torch.testing.assert_close(ours, expected, rtol=1e-4, atol=1e-5)
    assert expected.std() > 0.01  # a picture, not a constant


def test_corrupt_or_mismatched_biggan_files(weights_dir, tmp_path):
    store = WeightStore(tmp_path)
    spec = lookup("tiny-biggan")
    folder = store.ensure(spec)
    (folder / "pytorch_model.bin").write_bytes(b"truncated")
    engine = Engine(store, "cpu")
    with pytest.raises(
        WeightsError, match=r"pytorch_model.bin for tiny-biggan is corrupt.*dreambot weights download tiny-biggan"
    ):
        engine.network("tiny-biggan")
    shutil.rmtree(folder)
    store.ensure(spec)
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, "channel_width": 8}))
    with pytest.raises(WeightsError, match="does not match config.json"):
        Engine(store, "cpu").network("tiny-biggan")


def test_missing_real_biggan_names_the_download(tmp_path):
    with pytest.raises(WeightsError, match="dreambot weights download biggan-deep-512"):
        Engine(WeightStore(tmp_path), "cpu").network("biggan-deep-512")


def test_painters_without_weights_load_nothing(tmp_path):
    engine = Engine(WeightStore(tmp_path), "cpu")
    assert engine.network("siren") is None and engine.network("pixels") is None
    assert not any(tmp_path.iterdir())


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


def test_fourier_image_takes_an_init_image_exactly(tmp_path):
    noise_image(tmp_path / "init.png", 40)
    image = torch.from_numpy(np.array(Image.open(tmp_path / "init.png"))).permute(2, 0, 1)[None].float() / 255
    image = image[:, :, :, :37]  # an odd width, where the real FFT is least forgiving
    generator = FourierImage(None, 37, 40, CPU)
    generator.init_from_image(image)
    with torch.no_grad():
        error = (generator.decode() - image.clamp(1e-3, 1 - 1e-3)).abs().max()
    assert error < 1e-4


@pytest.mark.parametrize(("model", "options", "gain"), [("siren", SMALL_SIREN, 2), ("tiny-biggan", {}, 1.05)])
def test_init_image_primes_painters_without_an_encoder(engine, tmp_path, model, options, gain):
    """SIREN and BigGAN are fitted to the init image first, so the first picture is closer to it.

    A random-weight BigGAN can barely paint a flat colour, so it only has to get closer.
    """
    Image.new("RGB", (64, 64), (230, 60, 20)).save(tmp_path / "init.png")
    target = np.array([230, 60, 20], dtype=np.float64)

    def error(result) -> float:
        return float(np.abs(np.asarray(result.image, dtype=np.float64) - target).mean())

    plain = engine.render(request(model, 64, options, steps=1, lr=1e-9))
    primed = engine.render(request(model, 64, options, steps=1, lr=1e-9, init_image=str(tmp_path / "init.png")))
    assert error(primed) < error(plain) / gain


def test_siren_fits_a_picture_when_priming():
    torch.manual_seed(0)
    generator = SirenGenerator(None, 32, 32, CPU, **SMALL_SIREN)
    ys, xs = torch.meshgrid(torch.linspace(0, 1, 32), torch.linspace(0, 1, 32), indexing="ij")
    target = torch.stack((xs, ys, 1 - xs)).mul(0.8).add(0.1)[None]
    before = torch.nn.functional.mse_loss(generator.image(), target).item()
    generator.init_from_image(target)
    after = torch.nn.functional.mse_loss(generator.image(), target).item()
    assert after < before / 5
