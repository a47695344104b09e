"""InceptionV1 (GoogLeNet) for DeepDream: torchvision's architecture, read from its weights file as tensors only.

torchvision publishes ``googlenet-1378be20.pth`` as a bare state dict with the auxiliary classifiers it was
trained with; they are read and dropped. Like torchvision's pretrained model, it expects ImageNet-normalized
pictures and maps them back to the range the original weights were trained on (``transform_input``).
"""

from __future__ import annotations

from pathlib import Path

import torch
from torchvision.models.googlenet import GoogLeNet

from contract.deepdream import LAYERS
from contract.models import GOOGLENET_WEIGHTS

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class Dreamer(torch.nn.Module):
    """The network up to a chosen layer, on pictures ``[b, 3, H, W]`` in [0, 1]."""

    def __init__(self, net: GoogLeNet) -> None:
        super().__init__()
        self.net = net.eval().requires_grad_(False)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1))

    def activations(self, pictures: torch.Tensor, layer: str) -> torch.Tensor:
        x = self.net._transform_input((pictures - self.mean) / self.std)
        for name in LAYERS[: LAYERS.index(layer) + 1]:
            x = getattr(self.net, name)(x)
        return x


def build(state: dict[str, torch.Tensor] | None = None) -> GoogLeNet:
    """torchvision's GoogLeNet with the auxiliary heads its weights file carries; random weights without ``state``."""
    net = GoogLeNet(aux_logits=True, transform_input=True, init_weights=state is None)
    if state is not None:
        net.load_state_dict(state)
    net.aux_logits, net.aux1, net.aux2 = False, None, None
    return net


def load_dreamer(folder: Path) -> Dreamer:
    state = torch.load(folder / GOOGLENET_WEIGHTS, map_location="cpu", weights_only=True)
    return Dreamer(build(state))


def random_state(seed: int = 0) -> dict[str, torch.Tensor]:
    """A random GoogLeNet in the official layout (auxiliary heads included), the same for the same seed."""
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        net = GoogLeNet(aux_logits=True, transform_input=True, init_weights=True)
        # torchvision's initial weights (std 0.01) shrink activations a hundredfold per layer, to 1e-17 by
        # inception4c; He's initialization keeps them near 1, as a trained network's are.
        for conv in (m for m in net.modules() if isinstance(m, torch.nn.Conv2d)):
            torch.nn.init.kaiming_normal_(conv.weight, nonlinearity="relu")
    return net.state_dict()
