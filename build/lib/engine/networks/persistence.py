"""NVIDIA's StyleGAN pickles read as data: the recorded tensors and constructor arguments, none of their code.

stylegan2-ada-pytorch and stylegan3 pickle every network with ``torch_utils.persistence``: each object is
saved as a call of ``_reconstruct_persistent_obj(meta)``, where ``meta`` holds the source code of its
module, the class name and the object's ``__dict__``; unpickling normally executes that source. Here an
unpickler resolves an exact list of names only. The persistence call becomes a ``Persistent`` record
that keeps the class name and the state and runs nothing; tensors are rebuilt by torch's own data-only
functions; anything else in the file is refused (``UnsafeCheckpoint``) before it could run.
"""

from __future__ import annotations

import io
import pickle
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch

from engine.networks.checkpoints import UnsafeCheckpoint

PERSISTENCE = ("torch_utils.persistence", "_reconstruct_persistent_obj")


@dataclass
class Persistent:
    """One object of a persistent class, as recorded: its class name and ``__dict__`` (never its source)."""

    class_name: str
    state: dict[str, Any]

    def children(self) -> dict[str, Persistent]:
        return {name: child for name, child in (self.state.get("_modules") or {}).items() if child is not None}

    @property
    def init_kwargs(self) -> dict[str, Any]:
        return dict(self.state.get("_init_kwargs") or {})

    def tensors(self, prefix: str = "") -> Iterator[tuple[str, torch.Tensor]]:
        """Every parameter and persistent buffer, named as ``state_dict()`` names them."""
        skipped = self.state.get("_non_persistent_buffers_set") or set()
        for kind in ("_parameters", "_buffers"):
            for name, value in (self.state.get(kind) or {}).items():
                if value is not None and not (kind == "_buffers" and name in skipped):
                    yield prefix + name, value.detach() if isinstance(value, torch.Tensor) else value
        for name, child in self.children().items():
            yield from child.tensors(f"{prefix}{name}.")


class EasyDict(dict):
    """Stands in for ``dnnlib.util.EasyDict``: a plain dict of the recorded arguments."""


def _persistent(meta: dict[str, Any]) -> Persistent:
    if meta.get("type") != "class" or not isinstance(meta.get("class_name"), str):
        raise UnsafeCheckpoint(f"a persistent object of an unknown kind ({meta.get('type')!r})")
    return Persistent(meta["class_name"], dict(meta.get("state") or {}))


def _storage(data: bytes) -> Any:
    """A tensor storage pickled as the bytes of ``torch.save``, read without running anything in them."""
    return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)


_NUMPY_CORE = getattr(np, "_core", None) or np.core
ALLOWED: dict[tuple[str, str], Any] = {
    PERSISTENCE: _persistent,
    ("torch._utils", "_rebuild_tensor_v2"): torch._utils._rebuild_tensor_v2,
    ("torch._utils", "_rebuild_parameter"): torch._utils._rebuild_parameter,
    ("torch.storage", "_load_from_bytes"): _storage,
    ("collections", "OrderedDict"): OrderedDict,
    ("dnnlib.util", "EasyDict"): EasyDict,
    ("numpy.core.multiarray", "scalar"): _NUMPY_CORE.multiarray.scalar,  # a number from its bytes (a layer's gain)
    ("numpy._core.multiarray", "scalar"): _NUMPY_CORE.multiarray.scalar,
    # an array from its shape, dtype and bytes (StyleGAN3 records sizes as numpy arrays)
    ("numpy.core.multiarray", "_reconstruct"): _NUMPY_CORE.multiarray._reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _NUMPY_CORE.multiarray._reconstruct,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("builtins", "set"): set,
}


class _Reader(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in ALLOWED:
            return ALLOWED[module, name]
        if module == "torch" and isinstance(getattr(torch, name, None), torch.dtype):
            return getattr(torch, name)
        raise UnsafeCheckpoint(f"it names code that is not allowed to load (Unsupported global: {module}.{name})")

    def persistent_load(self, pid: Any) -> Any:
        raise UnsafeCheckpoint(f"it holds a persistent id ({pid!r}) that a StyleGAN pickle does not use")


def read_pickle(path: Path) -> dict[str, Any]:
    """The top-level dict of an official StyleGAN pickle (``G``, ``D``, ``G_ema``, ...), as records."""
    with open(path, "rb") as file:
        data = _Reader(file).load()
    if not isinstance(data, dict) or not isinstance(data.get("G_ema"), Persistent):
        raise UnsafeCheckpoint("it is not a StyleGAN network pickle (no G_ema)")
    return data


def write_pickle(path: Path, networks: dict[str, torch.nn.Module], init_kwargs: dict[str, Any]) -> None:
    """Save ``networks`` as NVIDIA's persistence pickles record them (for the smoke-test models): each module a
    ``_reconstruct_persistent_obj`` call with its class name and state, and no source code in it."""
    with open(path, "wb") as file:
        _Writer(file, protocol=3).dump({name: _record(net, init_kwargs) for name, net in networks.items()})


class _Record:
    def __init__(self, meta: dict[str, Any]) -> None:
        self.meta = meta

    def __reduce__(self):
        return _reconstruct_marker, (self.meta,)


def _reconstruct_marker(meta: dict[str, Any]) -> None:
    """Written into the pickle under NVIDIA's name; never called."""


def _record(module: torch.nn.Module, init_kwargs: dict[str, Any] | None = None) -> _Record:
    attributes = {k: v for k, v in vars(module).items() if not k.startswith("_") and k != "training"}
    state = attributes | {
        "training": False,
        "_parameters": OrderedDict((k, v) for k, v in module._parameters.items()),
        "_buffers": OrderedDict((k, v) for k, v in module._buffers.items()),
        "_non_persistent_buffers_set": set(),
        "_modules": OrderedDict((k, _record(v)) for k, v in module._modules.items() if v is not None),
        "_init_args": (),
        "_init_kwargs": EasyDict(init_kwargs or {}),
    }
    meta = {"type": "class", "version": 6, "module_src": "# no source: written by dreambot", "class_name": type(module).__name__}
    return _Record(meta | {"state": state})


class _Writer(pickle._Pickler):  # the Python pickler, so that two of its globals can be written under NVIDIA's names
    NAMES: ClassVar[dict[Any, tuple[str, str]]] = {_reconstruct_marker: PERSISTENCE, EasyDict: ("dnnlib.util", "EasyDict")}

    def save(self, obj: Any, save_persistent_id: bool = True) -> None:
        if not any(obj is known for known in self.NAMES):
            super().save(obj, save_persistent_id)
        elif (memo := self.memo.get(id(obj))) is not None:
            self.write(self.get(memo[0]))
        else:
            module, name = self.NAMES[obj]
            self.write(pickle.GLOBAL + f"{module}\n{name}\n".encode())
            self.memoize(obj)
