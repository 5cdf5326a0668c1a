"""Shared fixtures. Real data in ../shared is read, never copied; tests needing it skip without it."""
from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("MPLBACKEND", "Agg")

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("SOCSPEC_SHARED", REPO.parent / "shared"))


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    if not SHARED.is_dir():
        pytest.skip(f"../shared not found at {SHARED} (real data is only read when present)")
    return SHARED


@pytest.fixture(scope="session")
def lab_data_dir(shared_dir) -> Path:
    d = shared_dir / "data" / "lab"
    if not d.is_dir():
        pytest.skip(f"{d} not found")
    return d


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


@pytest.fixture
def quiet():
    """Silence the reader's warnings (what it detected) where a test checks the result only."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield
