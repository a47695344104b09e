"""The CLIP-steered optimization loop (after Crowson's VQGAN+CLIP, 2021), the same for every generator.

Each step: decode the image, cut it into augmented cutouts, embed them all at once, and move
the generator's parameters down the weighted spherical distance to every prompt (plus the
generator's own regularizer, if it has one). Several pictures that share a generator network and a
perceptor can run as one batch: one decode and one CLIP pass per step for all of them. No I/O
here: progress goes to each one's ``on_step``, and its ``should_stop`` is checked between steps.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import torch
import torch.nn.functional as F

from contract.speed import PLAIN, Speed
from engine.generators.base import Generator

KEEP_WEIGHT = 10.0  # the pull towards a kept region (Pan, Zoom Out): the painter continues it, it is pasted back after


class Judge(Protocol):
    input_size: int
    parts: tuple[int, ...]  # widths of the unit vectors an embedding is made of (several for an ensemble)

    def encode_image(self, images: torch.Tensor) -> torch.Tensor: ...


@dataclass
class Target:
    """Unit embeddings ``[k, d]`` to pull towards (``weight > 0``) or push from (``weight < 0``)."""

    embeds: torch.Tensor
    weight: float = 1.0
    stop: float = -math.inf


def spherical_distance(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Squared great-circle distance between unit vectors (0 for equal, up to 2*(pi/2)**2)."""
    return (x - y).norm(dim=-1).div(2).arcsin().pow(2).mul(2)


def target_loss(embeds: torch.Tensor, target: Target, parts: tuple[int, ...] | None = None) -> torch.Tensor:
    """Mean distance of every cutout to every target embedding, weighted; gradients stop past ``stop``.
    Embeddings made of several ``parts`` (an ensemble's) are measured part by part, and the distances averaged."""
    if parts is None or len(parts) == 1:
        d = spherical_distance(embeds[:, None], target.embeds[None])
    else:
        pairs = zip(embeds.split(parts, dim=-1), target.embeds.split(parts, dim=-1), strict=True)
        d = torch.stack([spherical_distance(e[:, None], t[None]) for e, t in pairs]).mean(dim=0)
    active = d > target.stop if target.weight > 0 else d < -target.stop
    d = torch.where(active, d, d.detach())
    return target.weight * d.mean()


def make_optimizer(name: str, params: list[torch.Tensor], lr: float) -> torch.optim.Optimizer:
    optimizers = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW, "sgd": torch.optim.SGD}
    return optimizers[name](params, lr=lr)


@dataclass
class Optimization:
    """One picture being optimized: its painter, prompts and optimizer, and how it is cut, reported and stopped.

    ``rng`` is the CPU random state its cutouts draw from when it shares a batch, so that it draws
    exactly what it would alone (None: the global stream, for one on its own).
    """

    generator: Generator
    targets: list[Target]
    optimizer: torch.optim.Optimizer
    make_cutouts: Callable[[torch.Tensor], torch.Tensor]
    steps: int
    report_every: int = 1
    init_image: torch.Tensor | None = None
    init_weight: float = 0.0
    keep: torch.Tensor | None = None  # [1, 1, H, W]: 1 where the init image is kept as it is (Pan, Zoom Out)
    on_step: Callable[[int, float], None] | None = None
    should_stop: Callable[[], bool] | None = None
    rng: torch.Tensor | None = None
    losses: list[float] = field(default_factory=list)
    stopped_at: int | None = None
    _unread: list[torch.Tensor] = field(default_factory=list, repr=False)

    def cut(self, image: torch.Tensor) -> torch.Tensor:
        if self.rng is None:
            return self.make_cutouts(image)
        outer = torch.get_rng_state()
        torch.set_rng_state(self.rng)
        try:
            return self.make_cutouts(image)
        finally:
            self.rng = torch.get_rng_state()
            torch.set_rng_state(outer)

    def ends_before(self, step: int) -> bool:
        """Whether the optimization is over before ``step``: its steps are done, or it was asked to stop (``stopped_at``)."""
        if step > self.steps:
            return True
        if self.should_stop is not None and self.should_stop():
            self.stopped_at = step - 1
            return True
        return False

    def loss(self, image: torch.Tensor, embeds: torch.Tensor, parts: tuple[int, ...] | None = None) -> torch.Tensor:
        loss = sum(target_loss(embeds, t, parts) for t in self.targets)
        if self.init_image is not None and self.init_weight:
            loss = loss + self.init_weight * F.mse_loss(image, self.init_image)
        if self.keep is not None and self.init_image is not None:  # the painter continues what it must keep
            kept = (image - self.init_image).pow(2) * self.keep
            loss = loss + KEEP_WEIGHT * kept.sum() / (self.keep.sum() * image.shape[1])
        if (penalty := self.generator.penalty()) is not None:
            loss = loss + penalty
        return loss

    def shown(self, image: torch.Tensor) -> torch.Tensor:
        """The picture as it is shown and saved: the kept region pasted back exactly from the init image."""
        if self.keep is None or self.init_image is None:
            return image
        return image * (1 - self.keep) + self.init_image * self.keep

    def record(self, loss: torch.Tensor, read_back: bool) -> None:
        """Keep the step's loss on the device; with ``read_back``, bring every kept one to the host
        (the loop's only synchronisation with the device)."""
        self._unread.append(loss.detach())
        if read_back:
            self.losses += torch.stack(self._unread).tolist()
            self._unread.clear()


def optimize(runs: Sequence[Optimization], perceptor: Judge, speed: Speed = PLAIN) -> None:
    """Step every optimization until it has made its ``steps`` or its ``should_stop()`` turned true.

    All of one call share the generator's network (``decode_batch``) and ``perceptor``. Each one's
    losses land in its ``losses``; a stopped one leaves the batch with ``stopped_at`` set.
    With ``speed.sync_free`` the losses are read back only at step 1, every ``report_every`` steps
    and the last step, and ``on_step`` gets the latest loss read; otherwise after every step.
    """
    active = list(runs)
    device_type = active[0].generator.parameters()[0].device.type
    for step in itertools.count(1):
        active = [d for d in active if not d.ends_before(step)]
        if not active:
            return
        for d in active:
            d.optimizer.zero_grad(set_to_none=True)
        with torch.autocast(device_type, dtype=torch.bfloat16, enabled=speed.autocast):
            images = type(active[0].generator).decode_batch([d.generator for d in active])
        # Cutout geometry stays in float32: kornia's warps turn bf16 pictures into NaN now and then.
        cutouts = [d.cut(images[i : i + 1].float()) for i, d in enumerate(active)]
        with torch.autocast(device_type, dtype=torch.bfloat16, enabled=speed.autocast):
            embeds = perceptor.encode_image(torch.cat(cutouts) if len(cutouts) > 1 else cutouts[0])
        parts = embeds.split([len(c) for c in cutouts])
        losses = [d.loss(images[i : i + 1], part, perceptor.parts) for i, (d, part) in enumerate(zip(active, parts, strict=True))]
        sum(losses).backward()
        for d, loss in zip(active, losses, strict=True):
            d.optimizer.step()
            d.generator.after_step()
            d.record(loss, not speed.sync_free or step == 1 or step % d.report_every == 0 or step == d.steps)
            if d.on_step is not None:
                d.on_step(step, d.losses[-1])
