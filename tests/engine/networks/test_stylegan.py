"""NVIDIA's StyleGAN pickles read as data, and the StyleGAN2 rebuilt from them.

Checked once by hand against NVIDIA's own code (stylegan2-ada-pytorch's training/networks.py and its
reference ops, not part of this repository): on random weights with noise and biases set, our mapping and
synthesis gave exactly its outputs (max difference 0.0 for two latents, truncation 0.7).
"""

from __future__ import annotations

import pickle

import pytest
import torch

from contract.errors import WeightsError
from contract.models import STYLEGAN_PICKLE
from contract.registry import lookup
from engine.networks import persistence, stylegan2
from engine.networks.checkpoints import UnsafeCheckpoint
from engine.networks.tiny import TINY_STYLEGAN2
from engine.pipeline import Engine
from engine.weights import WeightStore
from tests.support.checkpoints import RunsCode


@pytest.fixture
def store(tmp_path) -> WeightStore:
    return WeightStore(tmp_path / "weights")


def test_a_network_saved_in_the_official_layout_loads_strictly_and_paints_the_same(tmp_path):
    torch.manual_seed(1)
    net = stylegan2.Generator(**TINY_STYLEGAN2).eval()
    persistence.write_pickle(tmp_path / STYLEGAN_PICKLE, {"G_ema": net, "G": net}, TINY_STYLEGAN2)
    with open(tmp_path / STYLEGAN_PICKLE, "rb") as file:
        text = file.read()
    assert b"torch_utils.persistence\n_reconstruct_persistent_obj" in text and b"dnnlib.util\nEasyDict" in text
    loaded = stylegan2.load_stylegan(tmp_path)
    ws = net.mapping(torch.randn(2, 32, generator=torch.Generator().manual_seed(0)), 0.7)
    torch.testing.assert_close(loaded.synthesis(ws), net.synthesis(ws), rtol=0, atol=0)
    assert loaded.synthesis(ws).shape == (2, 3, 64, 64)


def test_the_reader_runs_neither_the_recorded_source_nor_any_other_callable(tmp_path):
    marker = tmp_path / "ran"
    record = persistence._record(torch.nn.Linear(2, 2))
    record.meta["module_src"] = f"import pathlib; pathlib.Path({str(marker)!r}).write_text('ran')"
    with open(tmp_path / "recorded.pkl", "wb") as file:
        persistence._Writer(file, protocol=3).dump({"G_ema": record})
    assert persistence.read_pickle(tmp_path / "recorded.pkl")["G_ema"].class_name == "Linear"
    (tmp_path / "other.pkl").write_bytes(pickle.dumps({"G_ema": RunsCode(marker)}))
    with pytest.raises(UnsafeCheckpoint, match="Unsupported global: torch.fx.graph_module._exec_with_source"):
        persistence.read_pickle(tmp_path / "other.pkl")
    assert not marker.exists(), "the file's code ran"


def test_files_that_are_not_a_usable_stylegan2_are_named(store):
    folder = store.ensure(lookup("tiny-stylegan2"))
    net = stylegan2.Generator(**TINY_STYLEGAN2)
    del net.synthesis.b64.conv1.noise_strength
    persistence.write_pickle(folder / STYLEGAN_PICKLE, {"G_ema": net}, TINY_STYLEGAN2)
    missing = r"(?s)network.pkl for tiny-stylegan2 is corrupt.*Missing key.*b64.conv1.noise_strength"
    with pytest.raises(WeightsError, match=missing):
        Engine(store, "cpu").network("tiny-stylegan2")
    persistence.write_pickle(folder / STYLEGAN_PICKLE, {"G": net}, TINY_STYLEGAN2)
    with pytest.raises(WeightsError, match="not a StyleGAN network pickle"):
        Engine(store, "cpu").network("tiny-stylegan2")


def test_the_painter_starts_from_the_average_w_or_a_seeds_and_can_optimize_the_noise(engine):
    from engine.generators.style_clip import StyleGANGenerator

    net = engine.network("tiny-stylegan2")
    cpu = torch.device("cpu")
    average = StyleGANGenerator(net, 64, 64, cpu)
    assert average.ws.shape == (1, net.num_ws, 32) and torch.equal(average.ws[0, 3], net.mapping.w_avg)
    seeded = StyleGANGenerator(net, 64, 64, cpu, start_seed=5, truncation_psi=0.5)
    assert not torch.equal(seeded.ws, average.ws) and torch.equal(seeded.ws, StyleGANGenerator(net, 64, 64, cpu, 0.5, 5).ws)
    assert len(average.parameters()) == 1
    noisy = StyleGANGenerator(net, 64, 64, cpu, noise="optimize")
    assert len(noisy.parameters()) == 1 + 2 * 5 - 1, "one noise map per synthesis layer"
    with torch.no_grad():
        noisy.noises["b64.conv1"].add_(1.0)
    assert not torch.equal(noisy.decode(), average.decode())
