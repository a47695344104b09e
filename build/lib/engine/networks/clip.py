"""CLIP through open_clip: where a ``MODEL/PRETRAINED`` pair's weights are published, and reading a
model from a folder in open_clip's ``local-dir`` layout (``open_clip_config.json`` + weights).

Real and tiny models share that layout, so nothing is fetched behind our back at render time.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import open_clip
import torch

from contract.errors import WeightsError
from contract.models import CLIP_CONFIG, CLIP_WEIGHTS, ModelSpec, clip_from_hub
from contract.registry import KNOWN_PERCEPTORS
from engine.networks.bounds import check_within


def clip_spec(name: str) -> ModelSpec:
    """Spec for an open_clip ``MODEL/PRETRAINED`` name; the weights come from its Hugging Face repo."""
    model, sep, tag = name.partition("/")
    if not sep or not model or not tag:
        raise WeightsError(f"perceptor {name!r} must look like MODEL/PRETRAINED, e.g. ViT-B-32/openai")
    cfg = open_clip.get_pretrained_cfg(model, tag)
    if not cfg:
        known = ", ".join(KNOWN_PERCEPTORS)
        raise WeightsError(f"open_clip has no pretrained weights {tag!r} for {model!r} (try one of: {known})")
    hub = cfg.get("hf_hub", "").strip("/")
    if not hub:
        raise WeightsError(f"{name} has no Hugging Face copy; only open_clip weights published there are supported")
    return clip_from_hub(name, hub, f"open_clip {model} trained on {tag}")


def write_config(folder: Path, model_cfg: dict, mean: tuple[float, ...], std: tuple[float, ...]) -> None:
    """Write the ``open_clip_config.json`` that ``local-dir:`` loading reads."""
    folder.mkdir(parents=True, exist_ok=True)
    config = {"model_cfg": model_cfg, "preprocess_cfg": {"mean": list(mean), "std": list(std)}}
    (folder / CLIP_CONFIG).write_text(json.dumps(config, indent=2))


def write_pretrained_config(folder: Path, name: str) -> None:
    """Describe an open_clip ``MODEL/PRETRAINED`` pair from open_clip's own tables."""
    model, _, tag = name.partition("/")
    cfg = open_clip.get_pretrained_cfg(model, tag)
    model_cfg = dict(open_clip.get_model_config(model))
    if cfg.get("quick_gelu"):
        model_cfg["quick_gelu"] = True
    write_config(folder, model_cfg, cfg.get("mean", open_clip.OPENAI_DATASET_MEAN), cfg.get("std", open_clip.OPENAI_DATASET_STD))


def _without_weights(record: logging.LogRecord) -> bool:
    return "No pretrained weights loaded" not in record.getMessage()


def _shell(source: str) -> torch.nn.Module:
    """The model ``source`` describes, built without weights (on the meta device, to be measured), without
    open_clip's warning that it has none."""
    root = logging.getLogger()  # open_clip warns through the root logger
    root.addFilter(_without_weights)
    try:
        return open_clip.create_model(source, load_weights=False, device="meta")
    finally:
        root.removeFilter(_without_weights)


def load_clip(name: str, folder: Path) -> tuple[torch.nn.Module, object, tuple[float, ...], tuple[float, ...]]:
    """The model, its tokenizer, and the mean and std its images are normalized with."""
    if not (folder / CLIP_CONFIG).is_file():
        write_pretrained_config(folder, name)
    source = f"local-dir:{folder}"
    check_within(lambda: _shell(source), folder / CLIP_WEIGHTS)
    model = open_clip.create_model(source, require_pretrained=True)
    config = json.loads((folder / CLIP_CONFIG).read_text())["preprocess_cfg"]
    return model, open_clip.get_tokenizer(source), tuple(config["mean"]), tuple(config["std"])


class SequenceFirstAttention(torch.nn.Module):
    """A batch-first ``nn.MultiheadAttention`` fed its input already transposed and contiguous.

    Given ``[batch, tokens, width]``, torch's attention transposes to ``[tokens, batch, width]`` without
    copying, and the packed input projection of that strided tensor then runs as a batched matmul
    against its weight expanded and copied once per token (50 copies of 768x2304 for ViT-B/32: a third
    of a bf16 CLIP step on a CPU). One contiguous copy of the input instead gives the same numbers
    through one matmul.
    """

    def __init__(self, attention: torch.nn.MultiheadAttention) -> None:
        super().__init__()
        attention.batch_first = False
        self.attention = attention

    def forward(self, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor, **kwargs):
        q = query.transpose(0, 1).contiguous()
        k = q if key is query else key.transpose(0, 1).contiguous()
        v = k if value is key else value.transpose(0, 1).contiguous()  # the same object keeps the packed path
        out, weights = self.attention(q, k, v, **kwargs)
        return out.transpose(0, 1), weights


def sequence_first_attention(module: torch.nn.Module) -> torch.nn.Module:
    """``module`` with each batch-first ``nn.MultiheadAttention`` in it wrapped in ``SequenceFirstAttention``."""
    for name, child in module.named_children():
        if isinstance(child, torch.nn.MultiheadAttention) and child.batch_first:
            setattr(module, name, SequenceFirstAttention(child))
        else:
            sequence_first_attention(child)
    return module
