"""The checks a downloaded weights file passes before it is kept: whole in its format, and the sha256
that is pinned or was recorded at its first download."""

from __future__ import annotations

import hashlib

import pytest
import torch
import yaml
from safetensors.torch import save_file

from contract.models import ModelSpec, WeightFile
from contract.registry import REGISTRY
from engine import integrity
from engine.networks.tiny import TINY_VQGAN_YAML


def test_a_safetensors_file_cut_anywhere_after_its_header_is_not_whole(tmp_path):
    path = tmp_path / "open_clip_model.safetensors"
    save_file({"a": torch.zeros(64, 64), "b": torch.ones(32)}, str(path))
    whole = path.read_bytes()
    assert integrity.whole_file_problem(path) is None
    for cut in (len(whole) - 1, len(whole) - 200, 20):
        path.write_bytes(whole[:cut])
        assert integrity.whole_file_problem(path) is not None, cut


def test_a_json_config_cut_short_is_not_whole(tmp_path):
    path = tmp_path / "config.json"
    path.write_text('{"n_embed": 16384, "embed_dim": 256}')
    assert integrity.whole_file_problem(path) is None
    path.write_text('{"n_embed": 16384, "emb')
    assert "not a whole json file" in integrity.whole_file_problem(path)


def test_every_pin_in_the_registry_is_a_sha256_or_a_torchvision_prefix_of_one():
    pins = {f.name: f.sha256 for spec in REGISTRY.values() for f in spec.files if f.sha256}
    assert pins["RealESRGAN_x4plus.pth"] == "4fa0d38905f75ac06eb49a7951b426670021be3018265fd191d2125df9d682f1"
    assert pins["googlenet-1378be20.pth"] == "1378be20"
    for pin in pins.values():
        assert 8 <= len(pin) <= 64 and int(pin, 16) >= 0


def test_verify_records_a_hand_placed_file_then_catches_a_change(tmp_path):
    spec = ModelSpec("m", "vqgan", "a model", (WeightFile("a.bin"), WeightFile("b.bin")))
    (tmp_path / "a.bin").write_bytes(b"weights")
    first = integrity.verify(spec, tmp_path)
    assert [(c.file, c.state) for c in first] == [("a.bin", integrity.State.RECORDED_NOW), ("b.bin", integrity.State.MISSING)]
    assert integrity.verify(spec, tmp_path)[0].state is integrity.State.MATCHES_RECORD
    (tmp_path / "a.bin").write_bytes(b"weightz")
    changed = integrity.verify(spec, tmp_path)[0]
    assert changed.bad and hashlib.sha256(b"weights").hexdigest() in changed.detail


@pytest.mark.parametrize(("content", "state"), [(b"x", integrity.State.PINNED), (b"y", integrity.State.MISMATCH)])
def test_verify_checks_a_prefix_pin(tmp_path, content, state):
    pin = hashlib.sha256(b"x").hexdigest()[:8]
    (tmp_path / "f.pth").write_bytes(content)
    spec = ModelSpec("m", "dreamer", "a model", (WeightFile("f.pth", sha256=pin),))
    assert integrity.verify(spec, tmp_path)[0].state is state
    assert integrity.recorded(tmp_path) == {}, "a pinned file is never recorded over"


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("model: {}\n", "it is not a taming-transformers config: it has no model.params"),
        (
            "model:\n  params:\n    n_embed: 16384\n",
            "it is not a taming-transformers config: model.params has no ddconfig, embed_dim",
        ),
        ("model: [\n", "it is not a whole yaml file"),
    ],
)
def test_a_vqgan_config_that_is_not_one_is_not_taken_as_present(tmp_path, text, problem):
    path = tmp_path / "model.yaml"
    path.write_text(text)
    assert integrity.whole_file_problem(path).startswith(problem)
    path.write_text(yaml.safe_dump(TINY_VQGAN_YAML))
    assert integrity.whole_file_problem(path) is None
