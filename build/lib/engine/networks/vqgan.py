"""VQGAN from taming-transformers, built from ``taming.modules`` alone.

``taming.models`` imports PyTorch Lightning APIs that no longer exist, so the model class is
rebuilt here around taming's ``Encoder``/``Decoder`` and keeps the official state-dict layout:
``encoder.*``, ``decoder.*``, ``quant_conv``, ``post_quant_conv`` and ``quantize.embedding``
(or, for Gumbel models, ``quantize.embed`` and ``quantize.proj``).
"""

from __future__ import annotations

import contextlib
import io
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import yaml
from taming.modules.diffusionmodules.model import Decoder, Encoder, nonlinearity
from torch import nn

from contract.models import VQGAN_CHECKPOINT, VQGAN_CONFIG
from engine.networks.bounds import check_within
from engine.networks.checkpoints import load_checkpoint, state_dict_of
from engine.networks.recompute import segment

log = logging.getLogger(__name__)


class GumbelCodebook(nn.Module):
    """Weights of taming's ``GumbelQuantize``: logits over codes (``proj``) and the codes (``embed``)."""

    def __init__(self, num_hiddens: int, embed_dim: int, n_embed: int) -> None:
        super().__init__()
        self.proj = nn.Conv2d(num_hiddens, n_embed, 1)
        self.embed = nn.Embedding(n_embed, embed_dim)


class Codebook(nn.Module):
    """Weights of taming's ``VectorQuantizer``."""

    def __init__(self, n_embed: int, embed_dim: int) -> None:
        super().__init__()
        self.embedding = nn.Embedding(n_embed, embed_dim)


@dataclass(frozen=True)
class VQGANConfig:
    ddconfig: dict[str, Any]
    n_embed: int
    embed_dim: int
    gumbel: bool

    @classmethod
    def from_yaml(cls, text: str) -> VQGANConfig:
        doc = yaml.safe_load(text)
        model = doc["model"]
        params = model["params"]
        return cls(
            ddconfig=dict(params["ddconfig"]),
            n_embed=int(params["n_embed"]),
            embed_dim=int(params["embed_dim"]),
            gumbel=model.get("target", "").endswith("GumbelVQ"),
        )

    @property
    def factor(self) -> int:
        """Pixels per latent cell along each side."""
        return 2 ** (len(self.ddconfig["ch_mult"]) - 1)


class VQGAN(nn.Module):
    def __init__(self, config: VQGANConfig) -> None:
        super().__init__()
        dd = config.ddconfig
        self.config = config
        with contextlib.redirect_stdout(io.StringIO()):  # taming prints the latent shape
            self.encoder = Encoder(**dd)
            self.decoder = Decoder(**dd)
        self.quant_conv = nn.Conv2d(dd["z_channels"], config.embed_dim, 1)
        self.post_quant_conv = nn.Conv2d(config.embed_dim, dd["z_channels"], 1)
        if config.gumbel:
            self.quantize: nn.Module = GumbelCodebook(dd["z_channels"], config.embed_dim, config.n_embed)
        else:
            self.quantize = Codebook(config.n_embed, config.embed_dim)

    @property
    def codebook(self) -> torch.Tensor:
        """``[n_embed, embed_dim]`` code vectors."""
        return self.quantize.embed.weight if self.config.gumbel else self.quantize.embedding.weight

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Image in [-1, 1] to quantized latent ``[n, embed_dim, h, w]``."""
        h = self.quant_conv(self.encoder(x))
        if self.config.gumbel:
            codes = self.quantize.proj(h).argmax(dim=1)
            return self.codebook[codes].movedim(3, 1)
        return vector_quantize(h.movedim(1, 3), self.codebook).movedim(3, 1)

    def decode(self, z_q: torch.Tensor, checkpoint: bool = False) -> torch.Tensor:
        """Quantized latent to image in about [-1, 1]; ``checkpoint`` keeps one block's activations at a time."""
        h = self.post_quant_conv(z_q)
        return decode_in_segments(self.decoder, h) if checkpoint else self.decoder(h)


def _head(decoder: Decoder, h: torch.Tensor) -> torch.Tensor:
    return decoder.conv_out(nonlinearity(decoder.norm_out(h)))


def decode_in_segments(decoder: Decoder, h: torch.Tensor) -> torch.Tensor:
    """taming's ``Decoder.forward``, each block a checkpointed segment: the backward pass recomputes a
    block's activations when it reaches it, so memory holds one block's worth instead of all of them."""
    h = decoder.conv_in(h)
    h = segment(True, decoder.mid.block_1, h, None)
    h = segment(True, decoder.mid.attn_1, h)
    h = segment(True, decoder.mid.block_2, h, None)
    for level in reversed(decoder.up):
        for i, block in enumerate(level.block):
            h = segment(True, block, h, None)
            if len(level.attn):
                h = segment(True, level.attn[i], h)
        if hasattr(level, "upsample"):
            h = segment(True, level.upsample, h)
    return segment(True, _head, decoder, h)


def nearest_codes(x: torch.Tensor, codebook: torch.Tensor) -> torch.Tensor:
    """The index of the nearest code for each vector of ``x`` (channels last)."""
    d = x.pow(2).sum(dim=-1, keepdim=True) + codebook.pow(2).sum(dim=1) - 2 * x @ codebook.T
    return d.argmin(dim=-1)


def vector_quantize(x: torch.Tensor, codebook: torch.Tensor) -> torch.Tensor:
    """Nearest code for each vector of ``x`` (channels last), with a straight-through gradient."""
    x_q = codebook[nearest_codes(x, codebook)]
    return x + (x_q - x).detach()


def load_vqgan(folder: Path) -> VQGAN:
    """Build a VQGAN from an official ``model.yaml`` + ``last.ckpt`` pair; raises on any mismatch."""
    config = VQGANConfig.from_yaml((folder / VQGAN_CONFIG).read_text())
    check_within(lambda: VQGAN(config), folder / VQGAN_CHECKPOINT)
    model = VQGAN(config)
    state = state_dict_of(load_checkpoint(folder / VQGAN_CHECKPOINT))
    wanted = set(model.state_dict())
    state = {k: v for k, v in state.items() if k in wanted}
    missing = wanted - set(state)
    if missing:
        raise ValueError(f"checkpoint lacks {len(missing)} weights the config needs, e.g. {sorted(missing)[0]}")
    model.load_state_dict(state)
    return model.eval().requires_grad_(False)
