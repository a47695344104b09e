"""A weights folder whose config (or pickled arguments) describes a network larger than its weights file
could hold is refused before the network is built: each crafted file here would otherwise allocate about
half a GiB of random weights (a real attack, 10^10 codes, would exhaust any machine)."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
import yaml

from contract.models import BIGGAN_CONFIG, CLIP_CONFIG, DVAE_DECODER, STYLEGAN_PICKLE, VQGAN_CONFIG
from engine.networks import biggan, clip, dvae, persistence, stylegan, stylegan2, vqgan
from engine.networks.tiny import TINY_STYLEGAN2
from engine.weights import WeightStore, spec_for


def _copy(weights_dir: Path, tmp_path: Path, name: str) -> Path:
    folder = tmp_path / name
    shutil.copytree(WeightStore(weights_dir).ensure(spec_for(name)), folder)
    return folder


def _huge_vqgan(folder: Path) -> None:
    config = yaml.safe_load((folder / VQGAN_CONFIG).read_text())
    config["model"]["params"]["n_embed"] = 2**23  # 134 M values in the codebook
    (folder / VQGAN_CONFIG).write_text(yaml.safe_dump(config))


def _huge_biggan(folder: Path) -> None:
    config = json.loads((folder / BIGGAN_CONFIG).read_text())
    config["num_classes"] = 10_000_000  # 160 M values of class embeddings
    (folder / BIGGAN_CONFIG).write_text(json.dumps(config))


def _huge_clip(folder: Path) -> None:
    config = json.loads((folder / CLIP_CONFIG).read_text())
    config["model_cfg"]["text_cfg"]["vocab_size"] = 4_000_000  # 128 M values of token embeddings
    (folder / CLIP_CONFIG).write_text(json.dumps(config))


def _huge_stylegan(folder: Path) -> None:
    net = stylegan2.Generator(**TINY_STYLEGAN2)  # tiny tensors, arguments that claim a 134 M-value mapping
    persistence.write_pickle(folder / STYLEGAN_PICKLE, {"G_ema": net}, {**TINY_STYLEGAN2, "w_dim": 8192})


def _huge_dvae(folder: Path) -> None:
    decoder, _ = dvae.random_pair()
    decoder.vocab_size = 2_000_000  # a 64 M-value input layer
    torch.save(decoder, folder / DVAE_DECODER)


CASES: dict[str, tuple[Callable[[Path], None], Callable[[Path], object]]] = {
    "tiny-vqgan": (_huge_vqgan, vqgan.load_vqgan),
    "tiny-biggan": (_huge_biggan, biggan.load_biggan),
    "tiny-clip": (_huge_clip, lambda folder: clip.load_clip("tiny-clip", folder)),
    "tiny-stylegan2": (_huge_stylegan, stylegan.load_stylegan),
    "tiny-dvae": (_huge_dvae, dvae.load_dvae),
}


@pytest.mark.parametrize("name", CASES)
def test_a_config_describing_more_than_its_weights_hold_is_refused_before_anything_is_built(weights_dir, tmp_path, name):
    craft, load = CASES[name]
    folder = _copy(weights_dir, tmp_path, name)
    assert load(folder) is not None, "the file as made loads"
    craft(folder)
    with pytest.raises(ValueError, match=r"its shapes describe [\d,]+ values .* more than \S+ \([\d.]+ MiB\) holds"):
        load(folder)
