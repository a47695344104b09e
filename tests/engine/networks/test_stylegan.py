"""NVIDIA's StyleGAN pickles read as data, and the StyleGAN2 and StyleGAN3 rebuilt from them.

Checked once by hand against NVIDIA's own code (stylegan2-ada-pytorch's training/networks.py, stylegan3's
training/networks_stylegan3.py and their reference ops, not part of this repository): on random weights
with noise, biases, input transforms and magnitude gains set, our mapping and synthesis gave its outputs
(StyleGAN2: max difference 0.0 for two latents, truncation 0.7; StyleGAN3-T 0.0, StyleGAN3-R with radial
filters and 1x1 convolutions 4.8e-7 against a mean magnitude of 0.70; the filters they design are equal).
"""

from __future__ import annotations

import pickle

import pytest
import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from contract.errors import BadRequest, WeightsError
from contract.models import STYLEGAN_PICKLE
from contract.registry import lookup
from engine.networks import persistence, stylegan, stylegan2, stylegan3
from engine.networks.checkpoints import UnsafeCheckpoint
from engine.networks.tiny import TINY_STYLEGAN2, TINY_STYLEGAN3
from engine.pipeline import Engine
from engine.weights import WeightStore
from tests.support.checkpoints import RunsCode


@pytest.fixture
def store(tmp_path) -> WeightStore:
    return WeightStore(tmp_path / "weights")


# StyleGAN3-R: radially symmetric 2D downsampling filters and 1x1 convolutions.
TINY_STYLEGAN3_R = TINY_STYLEGAN3 | {"conv_kernel": 1, "use_radial_filters": True, "channel_base": 2048, "channel_max": 64}


@pytest.mark.parametrize(
    ("module", "config"),
    [(stylegan2, TINY_STYLEGAN2), (stylegan3, TINY_STYLEGAN3), (stylegan3, TINY_STYLEGAN3_R)],
    ids=["stylegan2", "stylegan3-t", "stylegan3-r"],
)
def test_a_network_saved_in_the_official_layout_loads_strictly_and_paints_the_same(tmp_path, module, config):
    torch.manual_seed(1)
    net = module.Generator(**config).eval()
    if module is stylegan3:  # recorded tensors win over what the constructor designs
        layer = getattr(net.synthesis, net.synthesis.layer_names[3])
        with torch.no_grad():
            layer.down_filter.mul_(1.5)
            layer.magnitude_ema.fill_(0.6)
    persistence.write_pickle(tmp_path / STYLEGAN_PICKLE, {"G_ema": net, "G": net}, config)
    with open(tmp_path / STYLEGAN_PICKLE, "rb") as file:
        text = file.read()
    assert b"torch_utils.persistence\n_reconstruct_persistent_obj" in text and b"dnnlib.util\nEasyDict" in text
    loaded = stylegan.load_stylegan(tmp_path)
    assert type(loaded) is module.Generator
    ws = net.mapping(torch.randn(2, 32, generator=torch.Generator().manual_seed(0)), 0.7)
    torch.testing.assert_close(loaded.synthesis(ws[:1]), net.synthesis(ws[:1]), rtol=0, atol=0)
    assert loaded.synthesis(ws).shape == (2, 3, 64, 64)


def test_stylegan3_records_its_sizes_as_numpy_arrays_and_they_are_read(tmp_path):
    net = stylegan3.Generator(**TINY_STYLEGAN3)
    persistence.write_pickle(tmp_path / STYLEGAN_PICKLE, {"G_ema": net}, TINY_STYLEGAN3)
    assert b"multiarray\n_reconstruct" in (tmp_path / STYLEGAN_PICKLE).read_bytes()
    record = persistence.read_pickle(tmp_path / STYLEGAN_PICKLE)["G_ema"].children()["synthesis"].children()["input"]
    assert record.state["size"].tolist() == [36, 36]
    layers = stylegan3.Generator(**TINY_STYLEGAN3).synthesis
    assert layers.layer_names == [  # as NVIDIA's code names them for these arguments
        "L0_36_32", "L1_36_32", "L2_52_32", "L3_84_32", "L4_84_16", "L5_64_16", "L6_64_3"
    ]  # fmt: skip
    assert "L6_64_3.up_filter" not in layers.state_dict(), "a single tap is no filter, as in the official files"


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


def test_a_stylegan3_has_no_noise_to_optimize(engine):
    from engine.generators.style_clip import StyleGANGenerator

    net = engine.network("tiny-stylegan3")
    assert StyleGANGenerator(net, 64, 64, torch.device("cpu")).ws.shape == (1, 8, 32)
    with pytest.raises(BadRequest, match="noise=optimize: this is a StyleGAN3, which has no noise inputs"):
        StyleGANGenerator(net, 64, 64, torch.device("cpu"), noise="optimize")


def naive_upfirdn2d(x, f, up, down, pad, gain):
    """The definition, step by step: zeros inserted, padded or cropped, every pixel filtered, pixels dropped."""
    n, c, h, w = x.shape
    x = torch.nn.functional.pad(x.reshape(n, c, h, 1, w, 1), [0, up - 1, 0, 0, 0, up - 1]).reshape(n, c, h * up, w * up)
    x0, x1, y0, y1 = pad
    x = torch.nn.functional.pad(x, [max(x0, 0), max(x1, 0), max(y0, 0), max(y1, 0)])
    x = x[:, :, max(-y0, 0) : x.shape[2] - max(-y1, 0), max(-x0, 0) : x.shape[3] - max(-x1, 0)]
    f = torch.ones(1, 1, dtype=x.dtype) if f is None else f if f.ndim == 2 else torch.outer(f, f)
    x = torch.nn.functional.conv2d(x, (f * gain).flip([0, 1])[None, None].repeat(c, 1, 1, 1), groups=c)
    return x[:, :, ::down, ::down]


@settings(max_examples=60, deadline=None)
@given(
    kind=st.sampled_from(["none", "1d", "2d"]),
    taps=st.integers(1, 12),
    up=st.integers(1, 4),
    down=st.integers(1, 3),
    pad=st.tuples(*[st.integers(-3, 12)] * 4),
    gain=st.sampled_from([1.0, 4.0]),
    seed=st.integers(0, 2**16),
)
def test_upfirdn2d_computes_its_definition(kind, taps, up, down, pad, gain, seed):
    """Polyphase upsampling and strided downsampling give exactly what the zero-inserting definition gives."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(2, 3, 9, 11, generator=g, dtype=torch.float64)
    f = {"none": None, "1d": torch.rand(taps, generator=g), "2d": torch.rand(taps, taps, generator=g)}[kind]
    f = f if f is None else f.double()
    x0, x1, y0, y1 = pad
    taps = 1 if f is None else taps
    assume(11 * up + x0 + x1 >= taps and 9 * up + y0 + y1 >= taps)
    expected = naive_upfirdn2d(x, f, up, down, pad, gain)
    torch.testing.assert_close(stylegan2.upfirdn2d(x, f, up, down, pad, gain), expected, rtol=1e-12, atol=1e-12)
