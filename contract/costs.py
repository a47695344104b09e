"""What a job costs before it runs: engine seconds and peak memory predicted from its request, with a table measured
by the benchmarks (``contract/costs.json``, written by ``bench/fit_costs.py``) and scaled to the executor that
actually paints, by what its recent jobs took against their predictions.

A CLIP-steered step costs the generator's pass (forward and backward) over the picture's pixels plus the
perceptors' passes over the cutouts, so a step is ``fixed + per_megapixel·MP + per_megapixel2·MP² +
Σ per_cutout·cutn`` seconds (the square term: attention over the picture's tokens), times the steps and the
candidates. Memory is the generator's base plus its share per megapixel (measured beside ViT-B-32), plus what
each perceptor needs beyond ViT-B-32.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from contract.limits import UPSCALE
from contract.registry import FAMILIES, perceptor_members

TABLE = Path(__file__).with_name("costs.json")
MIN_SAMPLES = 3  # recent jobs needed before the executor's own pace replaces the table's machine's
SAMPLES = 50  # recent jobs the executor's pace is taken from


@dataclass(frozen=True)
class Cost:
    seconds: float
    memory_gib: float

    def scaled(self, pace: float) -> Cost:
        return Cost(self.seconds * pace, self.memory_gib)


@dataclass(frozen=True)
class Part:
    """The cost of one generator (or family), perceptor, upscaler or dreamer, as measured."""

    fixed: float = 0.0  # seconds a step whatever the size
    per_megapixel: float = 0.0
    per_megapixel2: float = 0.0
    per_cutout: float = 0.0  # perceptors: seconds a step per cutout
    memory_gib: float = 0.0
    memory_gib_per_megapixel: float = 0.0

    def step(self, megapixels: float, cutn: int = 0) -> float:
        return self.fixed + self.per_megapixel * megapixels + self.per_megapixel2 * megapixels**2 + self.per_cutout * cutn

    def memory(self, megapixels: float) -> float:
        return self.memory_gib + self.memory_gib_per_megapixel * megapixels


@dataclass(frozen=True)
class CostTable:
    """Measured costs by name: a model's own entry, else its family's; perceptors by open_clip architecture."""

    measured: str  # where and how: the machine, the speed setting, the date
    generators: Mapping[str, Part] = field(default_factory=dict)
    perceptors: Mapping[str, Part] = field(default_factory=dict)
    upscalers: Mapping[str, Part] = field(default_factory=dict)
    dreamers: Mapping[str, Part] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CostTable:
        parts = {key: {name: Part(**values) for name, values in data.get(key, {}).items()} for key in
                 ("generators", "perceptors", "upscalers", "dreamers")}  # fmt: skip
        return cls(str(data["measured"]), **parts)

    def generator(self, model: str) -> Part:
        if model in self.generators:
            return self.generators[model]
        family = next((name for name, family in FAMILIES.items() if any(s.name == model for s in family.models)), "")
        return self.generators.get(family, self._largest(self.generators))

    def perceptor(self, name: str) -> Part:
        """A perceptor by its name (``tiny-clip``) or its open_clip architecture (``ViT-B-32`` of any weights);
        one not measured costs what the most expensive one measured does."""
        return self.perceptors.get(name) or self.perceptors.get(name.split("/")[0]) or self._largest(self.perceptors)

    @staticmethod
    def _largest(parts: Mapping[str, Part]) -> Part:
        return max(parts.values(), key=lambda p: p.step(0.25, 32) + p.memory(0.25))


@cache
def table() -> CostTable:
    return CostTable.from_dict(json.loads(TABLE.read_text(encoding="utf-8")))


def predict(request: Any, costs: CostTable | None = None) -> Cost:
    """The engine seconds and peak memory of ``request`` (a ``RenderRequest``) on the table's machine."""
    costs = costs or table()
    megapixels = request.width * request.height / 1e6
    kind = request.kind.name
    if kind == "upscale":
        part = costs.upscalers.get(request.model) or CostTable._largest(costs.upscalers)
        return Cost(part.step(megapixels), part.memory(megapixels * UPSCALE**2))
    if kind == "deepdream":
        part = costs.dreamers.get(request.model) or CostTable._largest(costs.dreamers)
        return Cost(request.steps * part.step(megapixels), part.memory(megapixels))
    perceptors = [costs.perceptor(name) for name in perceptor_members(request.perceptor)]
    if kind == "describe":  # one picture seen once; the vocabularies' embeddings are kept on disk after the first
        return Cost(sum(p.step(0.0, 1) for p in perceptors), sum(p.memory(0.0) for p in perceptors))
    generator = costs.generator(request.model)
    step = generator.step(megapixels) + sum(p.step(0.0, request.cutn) for p in perceptors)
    count = request.count
    memory = generator.memory(megapixels * count) + sum(p.memory(0.0) for p in perceptors)
    return Cost(request.total_steps * step * count, memory)


def pace(samples: Iterable[tuple[float, float]]) -> float:
    """How much slower (above 1) or faster this executor paints than the table's machine: the median of
    measured over predicted seconds of its recent jobs (``(predicted, measured)``); 1 until there are a few."""
    ratios = [measured / predicted for predicted, measured in samples if predicted > 0 and measured > 0]
    return statistics.median(ratios) if len(ratios) >= MIN_SAMPLES else 1.0
