"""Shared fixtures: one weights cache per test session, so the tiny models are made once."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def weights_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("weights")


@pytest.fixture(scope="session")
def engine(weights_dir: Path):
    from engine.pipeline import Engine
    from engine.weights import WeightStore

    return Engine(WeightStore(weights_dir), "cpu")
