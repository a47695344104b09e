"""BigGAN-deep from pytorch-pretrained-biggan: loading the official files and a per-layer forward.

The official models are a ``config.json`` plus a ``pytorch_model.bin`` state dict. The library's
own ``from_pretrained`` downloads through boto3 and loads non-strictly; here the pair is read from
the weights cache, strictly, with the safe unpickler. Spectral normalization is folded into the
weights after loading: in eval mode it is a fixed rescaling, and recomputing it every step is waste.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from pytorch_pretrained_biggan import BigGAN, BigGANConfig
from pytorch_pretrained_biggan.model import GenBlock

from contract.models import BIGGAN_CONFIG, BIGGAN_WEIGHTS
from engine.networks.bounds import check_within
from engine.networks.recompute import segment


def build(config: dict) -> BigGAN:
    return BigGAN(BigGANConfig.from_dict(config))


def load_biggan(folder: Path) -> BigGAN:
    """BigGAN-deep from an official pair, frozen, in eval mode, with spectral norm folded in."""
    config = json.loads((folder / BIGGAN_CONFIG).read_text())
    check_within(lambda: build(config), folder / BIGGAN_WEIGHTS)
    model = build(config)
    state = torch.load(folder / BIGGAN_WEIGHTS, map_location="cpu", weights_only=True)
    shapes = model.state_dict()
    if wrong := [k for k, v in state.items() if k in shapes and v.shape != shapes[k].shape]:
        file, config = tuple(state[wrong[0]].shape), tuple(shapes[wrong[0]].shape)
        raise ValueError(
            f"{BIGGAN_WEIGHTS} does not match {BIGGAN_CONFIG}: {len(wrong)} weights differ in shape, "
            f"e.g. {wrong[0]} is {file} in the file but {config} by the config"
        )
    result = model.load_state_dict(state, strict=False)
    if result.missing_keys or result.unexpected_keys:
        missing, unexpected = sorted(result.missing_keys), sorted(result.unexpected_keys)
        detail = f"missing {missing[0]}" if missing else f"unexpected {unexpected[0]}"
        raise ValueError(
            f"{BIGGAN_WEIGHTS} does not match {BIGGAN_CONFIG} ({len(missing)} missing, {len(unexpected)} unexpected: {detail})"
        )
    return freeze(model)


def freeze(model: BigGAN) -> BigGAN:
    """Eval mode, spectral norm folded into the weights, no weight gradients: only latents are optimized."""
    model.eval()
    for module in model.modules():
        if hasattr(module, "weight_orig"):
            torch.nn.utils.remove_spectral_norm(module)
    return model.requires_grad_(False)


def num_latents(model: BigGAN) -> int:
    """One condition vector for the first dense layer and one for each residual block."""
    return 1 + sum(isinstance(layer, GenBlock) for layer in model.generator.layers)


def paint(model: BigGAN, z: torch.Tensor, classes: torch.Tensor, truncation: float, checkpoint: bool = False) -> torch.Tensor:
    """Image in [-1, 1] from per-layer noise ``[L, z_dim]`` and class weights ``[L, num_classes]``.

    The Big Sleep's hierarchical conditioning: the library's forward shares one condition vector
    across all layers; giving each layer its own lets CLIP steer coarse and fine structure apart.
    With identical rows it computes exactly the library's forward. ``checkpoint`` recomputes each
    block's activations in the backward pass instead of keeping them all.
    """
    cond = torch.cat((z, model.embeddings(classes)), dim=1)
    g = model.generator
    x = g.gen_z(cond[:1]).view(1, 4, 4, 16 * g.config.channel_width).permute(0, 3, 1, 2)
    index = 1
    for layer in g.layers:
        if isinstance(layer, GenBlock):
            x = segment(checkpoint, layer, x, cond[index : index + 1], truncation)
            index += 1
        else:
            x = segment(checkpoint, layer, x)
    x = g.conv_to_rgb(g.relu(g.bn(x, truncation)))
    return g.tanh(x[:, :3])
