"""Outputs never clobber what the user had, appear only when complete, and get normal permissions."""
from __future__ import annotations

import json
import os
import stat

import numpy as np
import pytest

from socspec.errors import OutputExistsError
from socspec.outputs import atomic_path, atomic_write, prepare_run_dir, write_json


def test_run_dir_refuses_non_empty_without_force(tmp_path):
    d = tmp_path / "run"
    d.mkdir()
    (d / "keep.txt").write_text("mine")
    with pytest.raises(OutputExistsError, match="--force"):
        prepare_run_dir(d)
    assert prepare_run_dir(d, force=True) == d
    assert (d / "keep.txt").read_text() == "mine"


def test_atomic_write_leaves_old_file_when_interrupted(tmp_path):
    target = tmp_path / "metrics.json"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_write(target) as fh:
            fh.write("half")
            raise RuntimeError("killed")
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["metrics.json"]


def test_atomic_path_gets_umask_permissions(tmp_path):
    old = os.umask(0o022)
    try:
        with atomic_path(tmp_path / "a.csv") as tmp:
            tmp.write_text("x")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "a.csv").stat().st_mode) == 0o644


def test_write_json_converts_numpy_and_nan(tmp_path):
    write_json(tmp_path / "m.json", {"r2": np.float32(0.5), "v": np.arange(3), "bad": float("nan")})
    assert json.loads((tmp_path / "m.json").read_text()) == {"r2": 0.5, "v": [0, 1, 2], "bad": None}
