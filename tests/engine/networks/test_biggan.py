"""BigGAN-deep's official files: read strictly, painted per layer as the library paints, refused when broken."""

from __future__ import annotations

import json
import shutil

import pytest
import torch
from pytorch_pretrained_biggan import BigGAN, BigGANConfig

from contract.errors import WeightsError
from contract.registry import lookup
from engine.networks import biggan, tiny
from engine.pipeline import Engine
from engine.weights import WeightStore


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
