"""Reading the official checkpoint files without the libraries that wrote them, and without running them.

The taming-transformers ``.ckpt`` files are PyTorch Lightning checkpoints: besides the
``state_dict`` they pickle Lightning objects (the ``ModelCheckpoint`` callback and its state).
Every file is read with torch's weights-only unpickler, which resolves only torch's own tensor and
container types. On top of those, an exact list of Lightning class names (``FOREIGN_CLASSES``)
resolves to inert placeholders that keep their pickled state and can run nothing. Any other global
in the file is refused (``UnsafeCheckpoint``), however familiar its module: pickle resolves dotted
names, so trusting a whole module such as ``torch`` would let a crafted file call any function in it.
"""

from __future__ import annotations

import logging
import pickle
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

log = logging.getLogger(__name__)

# Classes that real Lightning checkpoints pickle besides tensors; each loads as an inert placeholder.
FOREIGN_CLASSES = (
    "pytorch_lightning.callbacks.model_checkpoint.ModelCheckpoint",
    "lightning.pytorch.callbacks.model_checkpoint.ModelCheckpoint",
    "pytorch_lightning.callbacks.early_stopping.EarlyStopping",
    "pytorch_lightning.utilities.parsing.AttributeDict",
)


class UnsafeCheckpoint(ValueError):
    """A checkpoint names a global outside the allow-list: it is refused, not run."""


class Placeholder:
    """Stands in for a class the checkpoint names but we neither have nor need; holds its pickled state."""

    def __new__(cls, *args: Any, **kwargs: Any) -> Placeholder:
        return super().__new__(cls)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    def __setstate__(self, state: Any) -> None:
        self.state = state


def _placeholder(dotted: str) -> type[Placeholder]:
    module, _, name = dotted.rpartition(".")
    return type(name, (Placeholder,), {"__module__": f"placeholder.{module}"})


PLACEHOLDERS = [(_placeholder(dotted), dotted) for dotted in FOREIGN_CLASSES]


def load_checkpoint(path: Path, classes: Sequence[type] = ()) -> Any:
    """Load a ``torch.save`` file onto the CPU; the listed foreign classes become placeholders, ``classes`` load as
    themselves (their pickled state set on a new instance, no code of the file run), any other global is refused."""
    with torch.serialization.safe_globals([*PLACEHOLDERS, *classes]):
        try:
            return torch.load(path, map_location="cpu", weights_only=True)
        except pickle.UnpicklingError as error:
            raise UnsafeCheckpoint(f"it names code that is not allowed to load ({_refused(str(error))})") from None


def _refused(message: str) -> str:
    """What torch's weights-only unpickler refused, from its long message (whose first lines advise loading the
    file without that unpickler: the one thing never to do with a file from the internet)."""
    if "Unsupported global" in message:
        start = message.index("Unsupported global")
        return message[start:].split(" was not")[0].split("\n")[0]
    _, marker, rest = message.partition("WeightsUnpickler error:")
    reason = next((line.strip() for line in rest.splitlines() if line.strip()), "") if marker else ""
    return reason or message.split("\n")[0]


def state_dict_of(checkpoint: dict[str, Any]) -> dict[str, torch.Tensor]:
    """The model weights of a Lightning checkpoint (or of a bare state dict)."""
    state = checkpoint.get("state_dict", checkpoint)
    return {k: v for k, v in state.items() if isinstance(v, torch.Tensor)}
