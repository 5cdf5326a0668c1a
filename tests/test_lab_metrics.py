"""Multi-seed summaries of the lab examples: mean ± sd (ddof=1) and the text table built from them."""
from __future__ import annotations

import numpy as np
import pytest

from socspec.lab.metrics import mean_sd, seed_summary_lines


def test_mean_sd_uses_ddof_1_and_skips_missing():
    s = mean_sd([0.8, 0.82, None, float("nan")])
    assert s["n"] == 2 and s["mean"] == pytest.approx(0.81) and s["sd"] == pytest.approx(np.std([0.8, 0.82], ddof=1))
    assert mean_sd([0.5]) == {"mean": 0.5, "sd": 0.0, "n": 1}


def test_seed_summary_lines_cells_and_missing_keys():
    lines = seed_summary_lines({"geeves": {"pls": {"r2": mean_sd([0.8, 0.82]), "rmse": mean_sd([5.0, 6.0])},
                                           "ann": {"r2": mean_sd([float("nan")])}}})
    assert lines[0].split() == ["set", "method", "R²", "RMSE", "g/kg", "MRMSE", "%"]
    assert lines[1].split() == ["geeves", "pls", "0.810", "±", "0.014", "5.500", "±", "0.707", "—"]
    assert lines[2].split() == ["geeves", "ann", "—", "—", "—"]
