"""Shared fixtures. Real data in ../shared is read, never copied; tests needing it skip without it."""
from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture(scope="session", autouse=True)
def _torch_one_thread():
    # The tests' tensors are tiny: on 2 shared cores torch's parallel regions cost up to 150x more
    # than they save (a 1,500-step decoder test took 107 s on 2 threads, 0.7 s on 1).
    import torch

    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)

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
