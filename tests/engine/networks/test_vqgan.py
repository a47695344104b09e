"""Loader round trips: tiny checkpoints written in the official taming formats load and decode identically."""

from __future__ import annotations

import copy
import sys
import types

import pytest
import torch
import yaml

from contract.errors import WeightsError
from contract.models import VQGAN_CHECKPOINT
from engine.networks import tiny
from engine.networks.checkpoints import UnsafeCheckpoint, load_checkpoint
from engine.networks.vqgan import VQGAN, VQGANConfig, decode_in_segments, load_vqgan
from tests.support.checkpoints import RunsCode

GUMBEL_YAML = copy.deepcopy(tiny.TINY_VQGAN_YAML)
GUMBEL_YAML["model"]["target"] = "taming.models.vqgan.GumbelVQ"
GUMBEL_YAML["model"]["params"]["ddconfig"].update(ch_mult=[1, 1, 2], attn_resolutions=[16])


def _reference(config: dict) -> VQGAN:
    """The model ``save_vqgan`` writes, rebuilt in memory from the same seed."""
    with torch.random.fork_rng():
        torch.manual_seed(tiny.SEED)
        model = VQGAN(VQGANConfig.from_yaml(yaml.safe_dump(config)))
        with torch.no_grad():
            model.codebook.uniform_(-1, 1)
    return model.eval()


@pytest.mark.parametrize("config", [tiny.TINY_VQGAN_YAML, GUMBEL_YAML], ids=["vq", "gumbel"])
def test_round_trip_decodes_identically(tmp_path, config):
    tiny.save_vqgan(tmp_path, config)
    loaded = load_vqgan(tmp_path)
    reference = _reference(config)
    assert loaded.config.gumbel == config["model"]["target"].endswith("GumbelVQ")
    z = reference.codebook[torch.randint(64, (8, 8))].movedim(2, 0)[None]
    with torch.no_grad():
        assert torch.equal(loaded.decode(z), reference.decode(z))
        image = torch.rand(1, 3, 32, 32)
        assert torch.equal(loaded.encode(image), reference.encode(image))
    keys = set(load_checkpoint(tmp_path / VQGAN_CHECKPOINT)["state_dict"])
    quantizer = {"quantize.embed.weight", "quantize.proj.weight"} if loaded.config.gumbel else {"quantize.embedding.weight"}
    assert quantizer <= keys


def test_lightning_objects_in_checkpoint_become_placeholders(tmp_path, monkeypatch):
    """Real .ckpt files pickle Lightning callbacks; we load them without Lightning and without running them."""
    tiny.save_vqgan(tmp_path, tiny.TINY_VQGAN_YAML)
    checkpoint = torch.load(tmp_path / VQGAN_CHECKPOINT, weights_only=True)
    for parent in ("pytorch_lightning", "pytorch_lightning.callbacks"):
        monkeypatch.setitem(sys.modules, parent, types.ModuleType(parent))
    fake = types.ModuleType("pytorch_lightning.callbacks.model_checkpoint")

    class ModelCheckpoint:
        def __init__(self):
            self.monitor = "val/rec_loss"

    ModelCheckpoint.__module__ = fake.__name__
    ModelCheckpoint.__qualname__ = "ModelCheckpoint"
    fake.ModelCheckpoint = ModelCheckpoint
    monkeypatch.setitem(sys.modules, fake.__name__, fake)
    checkpoint["callbacks"] = {"ModelCheckpoint": ModelCheckpoint()}
    torch.save(checkpoint, tmp_path / VQGAN_CHECKPOINT)
    monkeypatch.undo()  # Lightning is not installed: the names must load without it

    loaded = load_checkpoint(tmp_path / VQGAN_CHECKPOINT)
    placeholder = loaded["callbacks"]["ModelCheckpoint"]
    assert type(placeholder).__name__ == "ModelCheckpoint"
    assert placeholder.state == {"monitor": "val/rec_loss"}
    assert torch.equal(loaded["state_dict"]["quant_conv.weight"], checkpoint["state_dict"]["quant_conv.weight"])
    network = load_vqgan(tmp_path)  # and the VQGAN itself loads from that file, weights intact
    assert torch.equal(network.quant_conv.weight, checkpoint["state_dict"]["quant_conv.weight"])


def test_config_that_does_not_match_checkpoint_is_refused(tmp_path):
    tiny.save_vqgan(tmp_path, tiny.TINY_VQGAN_YAML)
    other = copy.deepcopy(tiny.TINY_VQGAN_YAML)
    other["model"]["params"]["ddconfig"]["ch"] = 64
    (tmp_path / "model.yaml").write_text(yaml.safe_dump(other))
    with pytest.raises(RuntimeError, match="size mismatch"):
        load_vqgan(tmp_path)


def test_decode_in_segments_is_tamings_forward(engine):
    decoder = engine.network("tiny-vqgan").decoder
    h = torch.randn(2, decoder.conv_in.in_channels, 4, 4)
    torch.testing.assert_close(decode_in_segments(decoder, h), decoder(h))


def test_a_checkpoint_that_would_run_code_is_refused_and_runs_nothing(tmp_path):
    from contract.registry import lookup
    from engine.pipeline import Engine
    from engine.weights import WeightStore

    store = WeightStore(tmp_path / "weights")
    folder = store.ensure(lookup("tiny-vqgan"))
    marker = tmp_path / "ran"
    checkpoint = torch.load(folder / VQGAN_CHECKPOINT, weights_only=True)
    torch.save({**checkpoint, "callbacks": {"x": RunsCode(marker)}}, folder / VQGAN_CHECKPOINT)
    with pytest.raises(UnsafeCheckpoint, match="Unsupported global: GLOBAL torch.fx.graph_module._exec_with_source"):
        load_checkpoint(folder / VQGAN_CHECKPOINT)
    with pytest.raises(WeightsError, match=r"corrupt, incomplete or unsafe .* dreambot weights download tiny-vqgan"):
        Engine(store, "cpu").network("tiny-vqgan")
    assert not marker.exists(), "the file's code ran"
