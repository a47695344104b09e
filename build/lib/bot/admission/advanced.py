"""/dream's advanced options, typed as one ``options`` string: ``cutn=64 lr=0.05 truncation=0.7``.

The keys are the loop's knobs and the painter's own options (those of ``contract.families``); values
are checked exactly as the command line checks its flags (``contract.validation.check_knobs``,
``Family.resolve_options``). Autocomplete offers the keys the chosen model takes, with their help,
so a member finds them without reading the README.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from typing import Any

from contract.errors import EngineError
from contract.limits import MAX_CUTN, OPTIMIZERS
from contract.protocol import RenderRequest
from contract.registry import family_of, lookup
from contract.validation import check_knobs, check_perceptor

MAX_OPTIONS_CHARS = 300
_PAIR = re.compile(r"\s*([a-z_]+)\s*=\s*([^\s,=]+)\s*,?", re.ASCII)


@dataclass(frozen=True)
class Knob:
    help: str
    kind: type


KNOBS = {
    "perceptor": Knob("the CLIP that judges, from this server's list", str),
    "cutn": Knob(f"cutouts per step, 1 to {MAX_CUTN}", int),
    "cut_pow": Knob("cutout size exponent, above 0 (higher: smaller cutouts)", float),
    "lr": Knob("learning rate, above 0 (default: the generator's own)", float),
    "init_weight": Knob("how strongly to stay close to the init image, 0 or more", float),
    "optimizer": Knob(", ".join(OPTIMIZERS), str),
}


class OptionsError(ValueError):
    """What is wrong with an options string, in a sentence for the member."""


def keys_for(model: str) -> dict[str, str]:
    """Every key the ``options`` string takes with ``model``, and its help."""
    family = family_of(lookup(model))
    return {name: knob.help for name, knob in KNOBS.items()} | {
        option.name: f"{option.help} ({option.allowed})" for option in family.options
    }


def parse(text: str, model: str) -> dict[str, Any]:
    """``key=value`` pairs, each converted: the loop's knobs as request fields, the painter's under ``options``."""
    if len(text) > MAX_OPTIONS_CHARS:
        raise OptionsError(f"The options are {len(text)} characters long; at most {MAX_OPTIONS_CHARS}.")
    painter = {option.name: option for option in family_of(lookup(model)).options}
    fields: dict[str, Any] = {}
    position = 0
    for match in _PAIR.finditer(text):
        if match.start() != position:
            break
        position = match.end()
        key, value = match[1], match[2]
        kind = KNOBS[key].kind if key in KNOBS else painter[key].kind if key in painter else None
        if kind is None:
            raise OptionsError(f"{model} takes no option {key!r}; it takes {', '.join(keys_for(model))}.")
        if key in fields or key in fields.get("options", {}):
            raise OptionsError(f"The option {key!r} is given twice.")
        try:
            converted = kind(value)
        except ValueError:
            raise OptionsError(
                f"The option {key} must be {'a whole number' if kind is int else 'a number'}, not {value!r}."
            ) from None
        if key in KNOBS:
            fields[key] = converted
        else:
            fields.setdefault("options", {})[key] = converted
    if text[position:].strip():
        raise OptionsError(
            f"I could not read {text[position:].strip()[:40]!r}: write options as key=value, e.g. cutn=64 lr=0.05."
        )
    return fields


def apply(request: RenderRequest, fields: dict[str, Any], perceptors: tuple[str, ...]) -> RenderRequest:
    """``request`` with the parsed options, checked as the command line checks them; the perceptor must be
    the server's default or one of ``perceptors``."""
    perceptor = fields.get("perceptor")
    if perceptor is not None and perceptor != request.perceptor and perceptor not in perceptors:
        allowed = ", ".join(dict.fromkeys((request.perceptor, *perceptors)))
        raise OptionsError(f"This server offers the perceptors {allowed}, not {perceptor!r}.")
    changed = dataclasses.replace(request, **fields)
    try:
        check_perceptor(changed.perceptor)
        check_knobs(changed)
        family_of(lookup(changed.model)).resolve_options(changed.model, changed.options)
    except EngineError as error:
        raise OptionsError(f"{error}.") from None  # it starts with the option's name, as typed
    return changed


def given(request: RenderRequest) -> dict[str, Any]:
    """The loop's knobs and painter options ``request`` was given beyond the defaults, as ``parse`` returns
    them: what 🔁 and V1 keep (the perceptor and the init image's fields travel on their own)."""
    base = RenderRequest(request.prompt)
    knobs = [name for name in KNOBS if name not in ("perceptor", "init_weight")]
    fields = {name: getattr(request, name) for name in knobs if getattr(request, name) != getattr(base, name)}
    if request.options:
        fields["options"] = dict(request.options)
    return fields


def suggestions(current: str, model: str, limit: int = 25) -> list[tuple[str, str]]:
    """Autocomplete for the ``options`` string: ``(shown, value)`` pairs, what was typed first, then each key
    not used yet that matches the word being typed, with its help."""
    head, _, word = current.rpartition(" ")
    used = set(re.findall(r"([a-z_]+)\s*=", head))
    choices = [(current, current)] if current.strip() and "=" in word else []
    for key, help in keys_for(model).items():
        if key not in used and key.startswith(word.split("=")[0]) and "=" not in word:
            value = f"{head} {key}=".strip()
            choices.append((f"{key}= · {help}"[:100], value[:100]))
    return choices[:limit]
