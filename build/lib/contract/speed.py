"""How fast the loop runs: switches that change the speed of the arithmetic, not what it computes.

``bench/bench_engine.py`` measures each switch on its own (docs/PERFORMANCE.md). ``fast`` turns on
what won there, ``plain`` turns everything off and is the reference the fast path is tested
against. A switch the device cannot use (bf16 without native bf16, cuDNN on a CPU) is dropped by
``for_device``, so one setting serves every machine. No torch here: the bot validates the
``[engine] speed`` setting without it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from contract.errors import BadRequest

DEFAULT = "fast"  # what the engine runs when nothing says otherwise
CHECKPOINT_PIXELS = 256 * 256  # larger pictures recompute the decoder in the backward pass


class SpeedError(BadRequest):
    """A speed setting that does not parse."""


@dataclass(frozen=True)
class Speed:
    """One switch per optimization; README's *Speed* table says what each does."""

    autocast: bool = False
    channels_last: bool = False
    batched_cutouts: bool = False
    sync_free: bool = False
    compile: bool = False
    cudnn_benchmark: bool = False
    checkpoint: bool = False

    @classmethod
    def fast(cls, device_type: str = "cuda") -> Speed:
        """The default: every switch that won on ``device_type`` in docs/PERFORMANCE.md.

        Checkpointing trades time for memory; a GPU needs the memory (512x512 VQGAN in well under
        10 GB), while a CPU has plenty and measured it as time lost (0.93x VQGAN, 0.83x BigGAN at 512x512).
        """
        return cls(
            autocast=True,
            channels_last=True,
            batched_cutouts=True,
            sync_free=True,
            cudnn_benchmark=True,
            checkpoint=device_type == "cuda",
        )

    @classmethod
    def parse(cls, text: str, device_type: str = "cuda") -> Speed:
        """``fast`` or ``plain``, then comma-separated ``+switch`` / ``-switch`` changes, e.g. ``fast,-checkpoint``."""
        base, *changes = [part.strip() for part in text.split(",")]
        presets = {"fast": cls.fast(device_type), "plain": cls()}
        if base not in presets:
            raise SpeedError(f"speed {text!r} must start with fast or plain, e.g. 'fast' or 'fast,-compile'")
        values = dataclasses.asdict(presets[base])
        for change in changes:
            name = change[1:]
            if not change or change[0] not in "+-" or name not in SWITCHES:
                raise SpeedError(f"{change!r} in speed {text!r} is not +SWITCH or -SWITCH; switches: {', '.join(SWITCHES)}")
            values[name] = change[0] == "+"
        return cls(**values)

    def for_device(self, device_type: str, native_bf16: bool) -> Speed:
        """Drop what ``device_type`` cannot use: bf16 without native support, cuDNN off CUDA."""
        cuda = device_type == "cuda"
        return dataclasses.replace(self, autocast=self.autocast and native_bf16, cudnn_benchmark=self.cudnn_benchmark and cuda)

    def checkpoint_for(self, width: int, height: int) -> bool:
        return self.checkpoint and width * height > CHECKPOINT_PIXELS

    def __str__(self) -> str:
        on = [name for name in SWITCHES if getattr(self, name)]
        return ",".join(on) if on else "plain"


SWITCHES = tuple(f.name for f in dataclasses.fields(Speed))
PLAIN = Speed()
