"""Per-generator options (BigGAN's truncation, SIREN's depth, ...), declared once.

Standard library only: the bot and the command line check options with this table before torch
loads, and the engine passes the resolved values to the generator as keyword arguments.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from engine.errors import BadRequest

Value = int | float


@dataclass(frozen=True)
class Option:
    """One knob of one generator family; ``default`` None means "off"."""

    name: str
    kind: type
    default: Value | None
    accepts: Callable[[Value], bool]
    allowed: str
    help: str

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    @property
    def label(self) -> str:
        """The key in the PNG ``parameters`` line."""
        return self.name.replace("_", " ").capitalize()

    def check(self, value: object) -> Value:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise BadRequest(f"{self.name} must be a number, not {value!r}")
        if self.kind is int and value != int(value):
            raise BadRequest(f"{self.name} must be a whole number, not {value}")
        value = self.kind(value)
        if not self.accepts(value):
            raise BadRequest(f"{self.name} must be {self.allowed}, not {value}")
        return value


FAMILY_OPTIONS: dict[str, tuple[Option, ...]] = {
    "vqgan": (),
    "biggan": (
        Option("truncation", float, 1.0, lambda v: 0 < v <= 1, "above 0 and at most 1", "BigGAN truncation: lower is tamer"),
        Option("max_classes", int, None, lambda v: 1 <= v <= 1000, "between 1 and 1000", "most ImageNet classes that may mix"),
        Option(
            "class_temperature", float, 2.0, lambda v: 0 < v <= 100, "above 0 and at most 100", "softness of the class choice"
        ),
        Option(
            "ema_decay", float, 0.99, lambda v: 0 <= v < 1, "at least 0 and below 1", "averaging of the latents shown (0: off)"
        ),
        Option(
            "start_class", int, None, lambda v: 0 <= v <= 999, "an ImageNet class index, 0 to 999", "ImageNet class to start from"
        ),
    ),
    "siren": (
        Option("layers", int, 16, lambda v: 2 <= v <= 64, "between 2 and 64", "SIREN sine layers"),
        Option("hidden_width", int, 256, lambda v: 8 <= v <= 1024, "between 8 and 1024", "SIREN units per layer"),
        Option(
            "w0", float, 30.0, lambda v: 0 < v <= 1000, "above 0 and at most 1000", "SIREN first-layer frequency: higher is finer"
        ),
    ),
    "pixels": (
        Option("decay_power", float, 1.0, lambda v: 0 <= v <= 4, "between 0 and 4", "Fourier falloff: higher is smoother"),
    ),
}
ALL_OPTIONS: dict[str, Option] = {o.name: o for options in FAMILY_OPTIONS.values() for o in options}

# Adam learning rates that suit each parameterization (VQGAN+CLIP notebooks, The Big Sleep,
# SIREN image fitting, Lucid's Fourier images).
DEFAULT_LR = {"vqgan": 0.1, "biggan": 0.07, "siren": 1e-4, "pixels": 0.05}


def resolve(family: str, model: str, given: Mapping[str, object]) -> dict[str, Value | None]:
    """Every option of ``family`` with ``given`` checked and applied over the defaults."""
    options = {o.name: o for o in FAMILY_OPTIONS[family]}
    for name in given:
        if name not in options:
            takes = f"its options are {', '.join(options)}" if options else "it takes none"
            raise BadRequest(f"{model} has no option {name!r}; {takes}")
    return {name: option.default if given.get(name) is None else option.check(given[name]) for name, option in options.items()}


def learning_rate(lr: float | None, family: str) -> float:
    """The request's learning rate, or the family's own when it leaves it out."""
    return DEFAULT_LR[family] if lr is None else lr
