"""The Big Sleep (BigGAN+CLIP): optimize per-layer noise and class logits of BigGAN-deep.

The controls follow lucidrains/big-sleep: class weights are a sigmoid of the logits, or a soft
top-k when ``max_classes`` limits how many ImageNet classes may mix (``class_temperature``
softens that choice); a regularizer keeps the noise normal-looking and the classes few; the
picture shown is painted from an exponential moving average of the latents.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from pytorch_pretrained_biggan import BigGAN

from contract.errors import BadRequest
from engine.generators.base import Generator
from engine.networks import biggan

LOGIT_MEAN, LOGIT_STD = -3.9, 0.3  # the Big Sleep's start: every class faintly present
START_LOGIT = 10.0  # a start class clearly ahead of the rest, under sigmoid and soft top-k alike
PENALTY_WEIGHT = 0.01  # The Big Sleep weighs CLIP 100 to 1 against its regularizers


def soft_top_k(logits: torch.Tensor, k: int, temperature: float) -> torch.Tensor:
    """Rows of at most ``k`` nonzero weights: the softmax of the best class, then of the best left, k times.

    Computed in one pass rather than k: the i-th best class's weight is its softmax over itself and
    every class below it, i.e. its scaled logit minus the log-sum-exp of the sorted tail.
    """
    ordered, order = (logits / temperature).sort(dim=-1, descending=True, stable=True)
    tail = ordered.flip(-1).logcumsumexp(dim=-1).flip(-1)
    return torch.zeros_like(logits).scatter(-1, order[..., :k], (ordered[..., :k] - tail[..., :k]).exp())


def latent_penalty(z: torch.Tensor) -> torch.Tensor:
    """Pull each layer's noise towards a standard normal: unit std, zero mean, no skew or excess kurtosis."""
    std, mean = z.std(dim=1), z.mean(dim=1)
    loss = (1 - std).abs().mean() + mean.abs().mean() + 4 * z.square().mean().clamp(min=1.0)
    scores = (z - mean[:, None]) / z.var(dim=1, unbiased=False).sqrt()[:, None]
    skew, kurtosis = scores.pow(3).mean(dim=1), scores.pow(4).mean(dim=1) - 3
    return loss + (skew.abs() + kurtosis.abs()).mean()


class BigGANGenerator(Generator):
    prime_steps = 50
    prime_lr = 0.05

    def __init__(
        self,
        net: BigGAN,
        width: int,
        height: int,
        device: torch.device,
        truncation: float = 1.0,
        max_classes: int | None = None,
        class_temperature: float = 2.0,
        ema_decay: float = 0.99,
        start_class: int | None = None,
    ) -> None:
        side = net.config.output_dim
        if (width, height) != (side, side):
            raise BadRequest(f"this BigGAN paints {side}x{side} only, not {width}x{height}")
        classes = net.config.num_classes
        if max_classes is not None and max_classes > classes:
            raise BadRequest(f"max_classes must be at most {classes}, the classes this BigGAN knows")
        if start_class is not None and start_class >= classes:
            raise BadRequest(f"start_class must be below {classes}, the classes this BigGAN knows")
        self.net, self.truncation = net, truncation
        self.max_classes, self.class_temperature, self.ema_decay = max_classes, class_temperature, ema_decay
        layers = biggan.num_latents(net)
        z = torch.randn(layers, net.config.z_dim)
        logits = torch.randn(layers, classes) * LOGIT_STD + LOGIT_MEAN
        if start_class is not None:
            logits[:, start_class] = START_LOGIT
        self.z = z.to(device).requires_grad_(True)
        self.logits = logits.to(device).requires_grad_(True)
        self._restart_average()

    def parameters(self) -> list[torch.Tensor]:
        return [self.z, self.logits]

    def _class_weights(self, logits: torch.Tensor) -> torch.Tensor:
        if self.max_classes is None:
            return logits.sigmoid()
        return soft_top_k(logits, self.max_classes, self.class_temperature)

    def _paint(self, z: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
        weights = self._class_weights(logits)
        return biggan.paint(self.net, z * self.truncation, weights, self.truncation, self.checkpoint).add(1).div(2)

    def decode(self) -> torch.Tensor:
        return self._paint(self.z, self.logits)

    def penalty(self) -> torch.Tensor:
        weights = self._class_weights(self.logits)
        others = weights.topk(weights.shape[1] - 1, dim=1, largest=False).values
        return PENALTY_WEIGHT * (latent_penalty(self.z) + (50 * others).square().mean())

    @torch.no_grad()
    def _restart_average(self) -> None:
        """Bias-corrected averages (as in Adam), so the first picture is not pulled towards zero."""
        self._sums = [torch.zeros_like(p) for p in self.parameters()]
        self._decayed = 1.0

    @torch.no_grad()
    def after_step(self) -> None:
        self._decayed *= self.ema_decay
        for total, p in zip(self._sums, self.parameters(), strict=True):
            total.lerp_(p, 1 - self.ema_decay)

    @torch.no_grad()
    def image(self) -> torch.Tensor:
        if self._decayed == 1.0:  # no step since the start (or since priming): nothing averaged yet
            return self.decode()
        z, logits = (total / (1 - self._decayed) for total in self._sums)
        return self._paint(z, logits)

    def init_from_image(self, image: torch.Tensor) -> None:
        super().init_from_image(image)
        self._restart_average()

    def set_parameters(self, values: Sequence[torch.Tensor]) -> None:
        super().set_parameters(values)
        self._restart_average()
