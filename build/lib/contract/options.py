"""A generator option (BigGAN's truncation, SIREN's depth, ...): its type, default, range and help.

Each family declares its own in ``contract.families``; the command line makes a flag of each, and the
engine passes the resolved values to the painter as keyword arguments.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from contract.errors import OptionError, escaped

Value = int | float | str


@dataclass(frozen=True)
class Option:
    """One knob of one generator family; ``default`` None means "off"."""

    name: str
    kind: type
    default: Value | None
    accepts: Callable[[Value], bool]
    allowed: str
    help: str
    # Whether it means anything for this model with these options (None: always); a picture records only those
    applies: Callable[[str, Mapping[str, Value | None]], bool] | None = None

    def applies_to(self, model: str, options: Mapping[str, Value | None]) -> bool:
        return self.applies is None or self.applies(model, options)

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    @property
    def label(self) -> str:
        """The key in the PNG ``parameters`` line."""
        return self.name.replace("_", " ").capitalize()

    def check(self, value: object) -> Value:
        if self.kind is str:
            if not isinstance(value, str) or not self.accepts(value):
                raise OptionError(f"{{}} must be {escaped(self.allowed)}, not {escaped(repr(value))}", self.name)
            return value
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise OptionError(f"{{}} must be a number, not {escaped(repr(value))}", self.name)
        if self.kind is int and value != int(value):
            raise OptionError(f"{{}} must be a whole number, not {value}", self.name)
        value = self.kind(value)
        if not self.accepts(value):
            raise OptionError(f"{{}} must be {escaped(self.allowed)}, not {value}", self.name)
        return value


def resolve_options(owner: str, options: Sequence[Option], given: Mapping[str, object]) -> dict[str, Value | None]:
    """Every one of ``options`` with ``given`` checked and applied over the defaults; ``owner`` names whose they are."""
    known = {option.name: option for option in options}
    for name in given:
        if name not in known:
            takes = f"its options are {', '.join('{}' for _ in known)}" if known else "it takes none"
            raise OptionError(f"{escaped(owner)} has no option '{{}}'; {takes}", name, *known)
    return {name: option.default if given.get(name) is None else option.check(given[name]) for name, option in known.items()}
