"""CLIP, through open_clip, as the judge of how well the picture matches the prompts.

Every perceptor is loaded from a folder in open_clip's ``local-dir`` layout
(``open_clip_config.json`` + weights), the same layout for real and tiny models, so nothing
is fetched behind our back at render time.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import open_clip
import torch
import torch.nn.functional as F

log = logging.getLogger(__name__)

CONFIG_FILE = "open_clip_config.json"


def write_config(folder: Path, model_cfg: dict, mean: tuple[float, ...], std: tuple[float, ...]) -> None:
    """Write the ``open_clip_config.json`` that ``local-dir:`` loading reads."""
    folder.mkdir(parents=True, exist_ok=True)
    config = {"model_cfg": model_cfg, "preprocess_cfg": {"mean": list(mean), "std": list(std)}}
    (folder / CONFIG_FILE).write_text(json.dumps(config, indent=2))


def write_pretrained_config(folder: Path, name: str) -> None:
    """Describe an open_clip ``MODEL/PRETRAINED`` pair from open_clip's own tables."""
    model, _, tag = name.partition("/")
    cfg = open_clip.get_pretrained_cfg(model, tag)
    model_cfg = dict(open_clip.get_model_config(model))
    if cfg.get("quick_gelu"):
        model_cfg["quick_gelu"] = True
    write_config(folder, model_cfg, cfg.get("mean", open_clip.OPENAI_DATASET_MEAN), cfg.get("std", open_clip.OPENAI_DATASET_STD))


class Perceptor:
    """Embeds text and images into CLIP's space, unit-normalized."""

    def __init__(self, name: str, model: torch.nn.Module, tokenizer, mean: tuple[float, ...], std: tuple[float, ...]) -> None:
        self.name = name
        self.model = model.eval().requires_grad_(False)
        self.tokenizer = tokenizer
        size = model.visual.image_size
        self.input_size = size[0] if isinstance(size, (tuple, list)) else int(size)
        self.mean = torch.tensor(mean).view(1, 3, 1, 1)
        self.std = torch.tensor(std).view(1, 3, 1, 1)

    def to(self, device: torch.device) -> Perceptor:
        self.model.to(device)
        self.mean, self.std = self.mean.to(device), self.std.to(device)
        return self

    @torch.no_grad()
    def encode_text(self, texts: list[str]) -> torch.Tensor:
        tokens = self.tokenizer(texts).to(self.mean.device)
        return F.normalize(self.model.encode_text(tokens).float(), dim=-1)

    def encode_image(self, images: torch.Tensor) -> torch.Tensor:
        """``images`` in [0, 1] at ``input_size``; differentiable."""
        x = (images - self.mean) / self.std
        return F.normalize(self.model.encode_image(x).float(), dim=-1)


def load_perceptor(name: str, folder: Path) -> Perceptor:
    """Load a perceptor from its weights folder (``WeightStore.ensure`` made sure it is complete)."""
    if not (folder / CONFIG_FILE).is_file():
        write_pretrained_config(folder, name)
    source = f"local-dir:{folder}"
    model = open_clip.create_model(source, require_pretrained=True)
    config = json.loads((folder / CONFIG_FILE).read_text())["preprocess_cfg"]
    return Perceptor(name, model, open_clip.get_tokenizer(source), tuple(config["mean"]), tuple(config["std"]))
