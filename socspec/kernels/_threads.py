"""Use numba's thread pool only when the work pays for it.

Waking the pool and joining costs little on an idle machine but up to tens of milliseconds per
parallel region when the cores are busy (measured: a 3 ms kernel took 24 ms on 2 contended
cores), so small problems run on one thread.
"""
from __future__ import annotations

from contextlib import contextmanager

import numba as nb

MIN_WORK_PER_THREAD = 4_000_000  # rough element operations per thread before splitting


@contextmanager
def threads_for(work: float):
    """Run the enclosed numba calls with at most ``work / MIN_WORK_PER_THREAD`` threads (>= 1)."""
    old = nb.get_num_threads()
    want = int(max(1, min(old, work // MIN_WORK_PER_THREAD)))
    nb.set_num_threads(want)
    try:
        yield want
    finally:
        nb.set_num_threads(old)
