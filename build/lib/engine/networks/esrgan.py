"""Real-ESRGAN upscalers: the official ``.pth`` read as tensors only, the architecture found by spandrel.

The release file is a pickle holding ``{"params_ema": state_dict}`` in BasicSR's RRDBNet layout
(``conv_first``, ``body.N.rdbM.convK``, ``conv_body``, ``conv_up1``, ``conv_up2``, ``conv_hr``,
``conv_last``). ``torch.load(weights_only=True)`` reads its tensors without running any of its code,
and spandrel recognises the layout and builds the network (its own RRDBNet), so no BasicSR install
and no code from the file is needed. ``random_state`` makes a small network in the same layout.
"""

from __future__ import annotations

from pathlib import Path

import spandrel
import torch
from torch import nn

from contract.errors import WeightsError
from contract.models import ESRGAN_WEIGHTS

SCALE = 4


def load_upscaler(folder: Path) -> nn.Module:
    """The 4x network of ``folder``'s release file, ready for ``[1, 3, H, W]`` pictures in [0, 1]."""
    state = torch.load(folder / ESRGAN_WEIGHTS, map_location="cpu", weights_only=True)
    descriptor = spandrel.ModelLoader().load_from_state_dict(spandrel.canonicalize_state_dict(state))
    if not isinstance(descriptor, spandrel.ImageModelDescriptor) or descriptor.scale != SCALE:
        raise WeightsError(f"{folder / ESRGAN_WEIGHTS} is a {descriptor.architecture.name} network, not a 4x upscaler")
    return descriptor.model.eval().requires_grad_(False)


def random_state(features: int = 8, growth: int = 32, blocks: int = 1, seed: int = 0) -> dict[str, torch.Tensor]:
    """A small random RRDBNet (x4) state dict in the official layout, the same for the same arguments."""
    generator = torch.Generator().manual_seed(seed)

    def conv(out: int, into: int) -> dict[str, torch.Tensor]:
        return {"weight": torch.randn(out, into, 3, 3, generator=generator) * 0.05, "bias": torch.zeros(out)}

    layers = {"conv_first": conv(features, 3)}
    for block in range(blocks):
        for rdb in (1, 2, 3):
            for k in range(1, 6):
                layers[f"body.{block}.rdb{rdb}.conv{k}"] = conv(features if k == 5 else growth, features + (k - 1) * growth)
    for name in ("conv_body", "conv_up1", "conv_up2", "conv_hr"):
        layers[name] = conv(features, features)
    layers["conv_last"] = conv(3, features)
    return {f"{layer}.{kind}": tensor for layer, params in layers.items() for kind, tensor in params.items()}
