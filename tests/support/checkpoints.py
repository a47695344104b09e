"""A checkpoint that would run code when unpickled by a loader that trusts whole modules."""

from __future__ import annotations

from pathlib import Path


class RunsCode:
    """Pickles as a call of a function inside torch that executes its argument (it writes ``marker``):
    pickle resolves dotted names, so a loader that trusts the whole ``torch`` module would run it."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        from torch.fx.graph_module import _exec_with_source

        return _exec_with_source, (f"import pathlib; pathlib.Path({str(self.marker)!r}).write_text('ran')", {})
