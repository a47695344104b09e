"""A checkpoint that would run code when unpickled by a loader that trusts whole modules."""

from __future__ import annotations

import pickle
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any


class RunsCode:
    """Pickles as a call of a function inside torch that executes its argument (it writes ``marker``):
    pickle resolves dotted names, so a loader that trusts the whole ``torch`` module would run it."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        from torch.fx.graph_module import _exec_with_source

        return _exec_with_source, (f"import pathlib; pathlib.Path({str(self.marker)!r}).write_text('ran')", {})


@dataclass(frozen=True)
class Named:
    """Stands for the global ``module.name`` in a crafted pickle, whether or not such a thing exists."""

    module: str
    name: str

    def __call__(self, *args: Any) -> None:
        """Never called: pickle only asks that a reduce's function be callable."""


@dataclass(frozen=True)
class Call:
    """Pickles as ``module.name(*args)``: what a hostile file asks its unpickler to run."""

    module: str
    name: str
    args: tuple[Any, ...]

    def __reduce__(self):
        return Named(self.module, self.name), self.args


class CraftingPickler(pickle._Pickler):  # the Python pickler: any name can be written as a global
    def save(self, obj: Any, save_persistent_id: bool = True) -> None:
        if isinstance(obj, Named):
            self.write(pickle.GLOBAL + f"{obj.module}\n{obj.name}\n".encode())
        else:
            super().save(obj, save_persistent_id)


def crafted_pickle(path: Path, data: Any) -> Path:
    """A plain pickle of ``data`` (a StyleGAN file's format), its ``Call``s written as calls."""
    with open(path, "wb") as file:
        CraftingPickler(file, protocol=2).dump(data)
    return path


def crafted_checkpoint(path: Path, data: Any) -> Path:
    """A ``torch.save`` file of ``data`` (the format of taming's and OpenAI's files), its ``Call``s written as calls."""
    import torch

    torch.save(data, path, pickle_module=SimpleNamespace(__name__="crafting", Pickler=CraftingPickler))
    return path
