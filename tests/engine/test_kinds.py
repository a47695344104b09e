"""The engine runs every job kind the contract declares, and nothing else."""

from contract.kinds import KINDS
from engine.kinds import RUNS


def test_every_declared_kind_has_one_run():
    assert set(RUNS) == set(KINDS)
    assert all(callable(run) for run in RUNS.values())
