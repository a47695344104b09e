"""Random-weight smoke-test models, written in the official file formats.

Made deterministically (fixed seed) on first use, then loaded through the same code as the real
weights. They let anyone check an install in seconds on a CPU; their pictures are noise.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import open_clip
import torch
import yaml

from contract.models import (
    BIGGAN_CONFIG,
    BIGGAN_WEIGHTS,
    CLIP_WEIGHTS,
    DVAE_DECODER,
    DVAE_ENCODER,
    ESRGAN_WEIGHTS,
    GOOGLENET_WEIGHTS,
    STYLEGAN_PICKLE,
    VQGAN_CHECKPOINT,
    VQGAN_CONFIG,
)
from engine.networks import clip, dvae, esrgan, vqgan

log = logging.getLogger(__name__)

SEED = 20210401

TINY_VQGAN_YAML = {
    "model": {
        "base_learning_rate": 4.5e-06,
        "target": "taming.models.vqgan.VQModel",
        "params": {
            "embed_dim": 16,
            "n_embed": 512,
            "ddconfig": {
                "double_z": False,
                "z_channels": 16,
                "resolution": 64,
                "in_channels": 3,
                "out_ch": 3,
                "ch": 32,
                "ch_mult": [1, 2],
                "num_res_blocks": 1,
                "attn_resolutions": [],
                "dropout": 0.0,
            },
            "lossconfig": {"target": "taming.modules.losses.vqperceptual.DummyLoss"},
        },
    }
}

TINY_CLIP_CFG = {
    "embed_dim": 32,
    "vision_cfg": {"image_size": 64, "layers": 2, "width": 32, "patch_size": 16, "head_width": 16},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 2},
}
TINY_CLIP_48_CFG = {
    "embed_dim": 24,
    "vision_cfg": {"image_size": 48, "layers": 2, "width": 32, "patch_size": 16, "head_width": 16},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 2},
}
TINY_BIGGAN_CONFIG = {
    "output_dim": 64,
    "z_dim": 16,
    "class_embed_dim": 16,
    "channel_width": 4,
    "num_classes": 1000,
    "layers": [
        [False, 16, 16],
        [True, 16, 8],
        [False, 8, 8],
        [True, 8, 4],
        [False, 4, 4],
        [True, 4, 2],
        [False, 2, 2],
        [True, 2, 1],
    ],
    "attention_layer_position": 6,
    "eps": 1e-4,
    "n_stats": 51,
}


def save_vqgan(folder: Path, config: dict, seed: int = SEED) -> None:
    """Write ``model.yaml`` + a Lightning-style ``last.ckpt`` for a random VQGAN of ``config``."""
    folder.mkdir(parents=True, exist_ok=True)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = vqgan.VQGAN(vqgan.VQGANConfig.from_yaml(yaml.safe_dump(config)))
        with torch.no_grad():
            model.codebook.uniform_(-1, 1)
    checkpoint = {"epoch": 0, "global_step": 0, "pytorch-lightning_version": "1.0.8", "state_dict": model.state_dict()}
    _atomic(folder / VQGAN_CONFIG, lambda p: p.write_text(yaml.safe_dump(config)))
    _atomic(folder / VQGAN_CHECKPOINT, lambda p: torch.save(checkpoint, p))


def random_biggan(config: dict, seed: int = SEED):
    """A BigGAN-deep of ``config`` with random weights that still paint finite pictures."""
    from engine.networks import biggan  # deferred: pytorch-pretrained-biggan imports scipy

    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = biggan.build(config)
    with torch.no_grad():
        # The library leaves the last batch norm's affine as uninitialized memory.
        model.generator.bn.weight.fill_(1.0)
        model.generator.bn.bias.zero_()
        # Spectral norm starts from random singular-vector estimates; a trained file holds
        # converged ones, so store the exact top singular vectors, as training would have.
        for module in model.modules():
            if hasattr(module, "weight_orig"):
                u, _, vh = torch.linalg.svd(module.weight_orig.flatten(1), full_matrices=False)
                module.weight_u.copy_(u[:, 0])
                module.weight_v.copy_(vh[0])
    return model


def save_biggan(folder: Path, config: dict, seed: int = SEED) -> None:
    """Write the official ``config.json`` + ``pytorch_model.bin`` pair for a random BigGAN-deep of ``config``."""
    model = random_biggan(config, seed)
    _atomic(folder / BIGGAN_CONFIG, lambda p: p.write_text(json.dumps(config, indent=2)))
    _atomic(folder / BIGGAN_WEIGHTS, lambda p: torch.save(model.state_dict(), p))


def save_clip(folder: Path, config: dict, seed: int = SEED) -> None:
    """Write an open_clip ``local-dir`` folder (config + safetensors) for a random tiny CLIP of ``config``."""
    from safetensors.torch import save_file

    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = open_clip.CLIP(**config)
        # Patch filters that see only a patch's mean colour, and no positions: a random ViT is then
        # as indifferent to flips and small shifts as a trained CLIP, so the cutout augmentations do
        # not drown its signal and a 30-step smoke run visibly lowers the loss.
        with torch.no_grad():
            w = model.visual.conv1.weight
            w.copy_(torch.randn(w.shape[0], 3, 1, 1).expand_as(w) / w.shape[-1])
            model.visual.positional_embedding.zero_()
    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    _atomic(folder / CLIP_WEIGHTS, lambda p: save_file(state, str(p)))
    clip.write_config(folder, config, open_clip.OPENAI_DATASET_MEAN, open_clip.OPENAI_DATASET_STD)


def save_dvae(folder: Path, seed: int = SEED) -> None:
    """Write ``decoder.pkl`` + ``encoder.pkl`` as OpenAI publishes them (whole pickled modules), small and random."""
    decoder, encoder = dvae.random_pair(seed=seed)
    _atomic(folder / DVAE_DECODER, lambda p: torch.save(decoder, p))
    _atomic(folder / DVAE_ENCODER, lambda p: torch.save(encoder, p))


TINY_STYLEGAN2 = {
    "z_dim": 32,
    "c_dim": 0,
    "w_dim": 32,
    "img_resolution": 64,
    "img_channels": 3,
    "mapping_kwargs": {"num_layers": 2},
    "synthesis_kwargs": {"channel_base": 512, "channel_max": 32, "num_fp16_res": 0, "conv_clamp": 256},
}


TINY_STYLEGAN3 = {
    "z_dim": 32,
    "c_dim": 0,
    "w_dim": 32,
    "img_resolution": 64,
    "img_channels": 3,
    "mapping_kwargs": {"num_layers": 2},
    "channel_base": 1024,
    "channel_max": 32,
    "num_layers": 6,
    "magnitude_ema_beta": 0.999,
    "num_fp16_res": 0,
    "conv_clamp": 256,
}


def save_stylegan(folder: Path, version: int, seed: int = SEED) -> None:
    """Write a random StyleGAN2 or StyleGAN3 in NVIDIA's persistence-pickle layout (``G_ema`` and its
    recorded arguments)."""
    from engine.networks import persistence, stylegan2, stylegan3

    module, config = (stylegan2, TINY_STYLEGAN2) if version == 2 else (stylegan3, TINY_STYLEGAN3)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        net = module.Generator(**config)
        with torch.no_grad():  # noise as trained networks have it, so the constant maps matter
            for layer in net.synthesis.noise_layers().values():
                layer.noise_strength.fill_(0.1)
    _atomic(folder / STYLEGAN_PICKLE, lambda p: persistence.write_pickle(p, {"G_ema": net}, config))


def _atomic(path: Path, write) -> None:
    """Write through a temporary name so a crash never leaves half a file under the real name."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    write(tmp)
    os.replace(tmp, path)


def make(name: str, folder: Path) -> None:
    """Create the files of the synthetic model ``name`` in ``folder``."""
    log.info("making %s in %s (random weights, for smoke tests)", name, folder)
    if name == "tiny-vqgan":
        save_vqgan(folder, TINY_VQGAN_YAML)
    elif name == "tiny-biggan":
        save_biggan(folder, TINY_BIGGAN_CONFIG)
    elif name == "tiny-clip":
        save_clip(folder, TINY_CLIP_CFG)
    elif name == "tiny-clip-48":
        save_clip(folder, TINY_CLIP_48_CFG, seed=SEED + 48)
    elif name == "tiny-inception":
        from engine.networks import inception  # deferred: torchvision's models

        _atomic(folder / GOOGLENET_WEIGHTS, lambda p: torch.save(inception.random_state(seed=SEED), p))
    elif name in ("tiny-stylegan2", "tiny-stylegan3"):
        save_stylegan(folder, version=int(name[-1]))
    elif name == "tiny-dvae":
        save_dvae(folder)
    elif name == "tiny-esrgan":
        _atomic(folder / ESRGAN_WEIGHTS, lambda p: torch.save({"params_ema": esrgan.random_state(seed=SEED)}, p))
    else:
        raise ValueError(f"no synthetic model called {name!r}")
