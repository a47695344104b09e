"""One line of the usage ledger: a job's engine seconds, charged to its member and server."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Charge:
    job_id: str
    guild_id: int
    user_id: int
    at: float  # when the job ended
    seconds: float  # engine seconds it took (its share of a batch), whatever its end: done, failed or cancelled
    predicted: float  # the cost model's seconds for it on the table's machine (``contract/costs.py``)
    predicted_gib: float = 0.0  # the cost model's peak memory for it
    peak_gib: float = 0.0  # the engine's peak memory while it ran (0: not said)
    model: str = ""
    worker: str = ""  # the remote worker that painted it ("": the bot's own engine)
