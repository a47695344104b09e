"""Reading the official checkpoint files without the libraries that wrote them.

The taming-transformers ``.ckpt`` files are PyTorch Lightning checkpoints: besides the
``state_dict`` they pickle Lightning objects (``ModelCheckpoint`` callbacks and the like).
``torch.load(weights_only=True)`` refuses them and a plain unpickle would need the Lightning
release that wrote them. We try the safe loader first and otherwise unpickle with every
non-torch class replaced by an inert placeholder, so no foreign code runs and nothing from
Lightning is needed.
"""

from __future__ import annotations

import logging
import pickle
import types
from pathlib import Path
from typing import Any

import torch

log = logging.getLogger(__name__)

_TRUSTED_MODULES = ("torch", "collections", "numpy", "_codecs")
_SAFE_BUILTINS = {
    "set",
    "frozenset",
    "slice",
    "complex",
    "range",
    "bytearray",
    "dict",
    "list",
    "tuple",
    "int",
    "float",
    "str",
    "bool",
}


class Placeholder:
    """Stands in for a class the checkpoint names but we neither have nor need."""

    def __new__(cls, *args: Any, **kwargs: Any) -> Placeholder:
        return super().__new__(cls)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    def __setstate__(self, state: Any) -> None:
        self.state = state


class _TolerantUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if module == "builtins":
            if name in _SAFE_BUILTINS:
                return super().find_class(module, name)
        elif module.split(".")[0] in _TRUSTED_MODULES:
            return super().find_class(module, name)
        return type(name, (Placeholder,), {"__module__": f"placeholder.{module}"})


_tolerant_pickle = types.SimpleNamespace(
    Unpickler=_TolerantUnpickler, load=lambda f, **kw: _TolerantUnpickler(f, **kw).load(), __name__="pickle"
)


def load_checkpoint(path: Path) -> dict[str, Any]:
    """Load a ``torch.save`` file onto the CPU; foreign classes inside it become placeholders."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        log.debug("weights_only load of %s refused (%s); using placeholders", path, error)
    return torch.load(path, map_location="cpu", weights_only=False, pickle_module=_tolerant_pickle)


def state_dict_of(checkpoint: dict[str, Any]) -> dict[str, torch.Tensor]:
    """The model weights of a Lightning checkpoint (or of a bare state dict)."""
    state = checkpoint.get("state_dict", checkpoint)
    return {k: v for k, v in state.items() if isinstance(v, torch.Tensor)}
