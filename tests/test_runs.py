"""socspec.runs: one writer per run directory, atomic --force replace, resume rules, model-folder
manifests and safe torch loading (issue 11)."""
from __future__ import annotations

import json
import subprocess
import sys
import time

import numpy as np
import pytest

from socspec import runs
from socspec.errors import OutputExistsError, SocspecInputError
from socspec.runs import (
    ModelFolderError,
    ResumeMismatchError,
    RunDir,
    RunLockedError,
    check_identity,
    identity_differences,
    load_torch,
    run_identity,
    verify_model_folder,
    write_manifest,
)


def _tree(d):
    return sorted(p.relative_to(d).as_posix() for p in d.rglob("*"))


# ------------------------------------------------------------------ lock
def test_second_writer_is_refused_at_once_and_lock_is_released(tmp_path):
    out = tmp_path / "run"
    with RunDir(out) as run:
        (run.path / "a.txt").write_text("first")
        with pytest.raises(RunLockedError, match="another socspec run is writing"):
            RunDir(out, force=True).__enter__()
        assert (out / "a.txt").read_text() == "first"
    assert not runs.lock_path(out).exists()  # removed on release
    with RunDir(out, force=True) as run:  # free again
        (run.path / "b.txt").write_text("second")
    assert _tree(out) == ["b.txt"]


def test_lock_holds_across_processes(tmp_path):
    out = tmp_path / "run"
    ready = tmp_path / "ready"
    code = (f"import time, pathlib; from socspec.runs import run_lock\n"
            f"with run_lock({str(out)!r}):\n"
            f"    pathlib.Path({str(ready)!r}).write_text('1'); time.sleep(30)\n")
    proc = subprocess.Popen([sys.executable, "-c", code])
    try:
        for _ in range(300):
            if ready.exists():
                break
            time.sleep(0.05)
        assert ready.exists()
        with pytest.raises(RunLockedError):
            with RunDir(out):
                pass
        assert not out.exists()  # the refused writer created nothing
    finally:
        proc.kill()
        proc.wait()
    with RunDir(out):  # the kernel released the dead holder's lock
        pass


# ------------------------------------------------------------------ force / resume / failure
def test_force_replaces_the_whole_directory_and_failure_keeps_the_old_one(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "old_plot.png").write_text("old")
    (out / "checkpoints" / "seed7").mkdir(parents=True)
    (out / "checkpoints" / "seed7" / "checkpoint.pt").write_text("old")
    with pytest.raises(OutputExistsError, match="not empty"):
        RunDir(out).__enter__()
    with pytest.raises(KeyError):
        with RunDir(out, force=True) as run:
            assert run.replacing and run.path != out
            (run.path / "metrics.json").write_text("half")
            raise KeyError("boom")
    assert _tree(out) == ["checkpoints", "checkpoints/seed7", "checkpoints/seed7/checkpoint.pt", "old_plot.png"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]  # no staging directory left
    with RunDir(out, force=True) as run:
        (run.path / "metrics.json").write_text("new")
    assert _tree(out) == ["metrics.json"]  # no stale file of the earlier run survives
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]


def test_swap_without_renameat2_falls_back_to_two_renames(tmp_path, monkeypatch):
    monkeypatch.setattr(runs, "_renameat2_exchange", lambda: None)
    out = tmp_path / "run"
    out.mkdir()
    (out / "old.txt").write_text("x")
    with RunDir(out, force=True) as run:
        (run.path / "new.txt").write_text("y")
    assert _tree(out) == ["new.txt"] and sorted(p.name for p in tmp_path.iterdir()) == ["run"]


def test_failed_new_run_leaves_no_directory_unless_it_has_a_checkpoint(tmp_path):
    with pytest.raises(ValueError):
        with RunDir(tmp_path / "a") as run:
            (run.path / "metrics.json").write_text("partial")
            raise ValueError("bad input found late")
    assert not (tmp_path / "a").exists()
    with pytest.raises(KeyboardInterrupt):
        with RunDir(tmp_path / "b") as run:
            (run.path / "checkpoints" / "seed0").mkdir(parents=True)
            (run.path / "checkpoints" / "seed0" / "checkpoint.pt").write_bytes(b"x")
            raise KeyboardInterrupt
    assert (tmp_path / "b" / "checkpoints" / "seed0" / "checkpoint.pt").exists()  # --resume can continue


def test_resume_needs_a_checkpoint_and_never_overwrites_user_files(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "metrics.json").write_text("mine")
    with pytest.raises(OutputExistsError, match="no checkpoint to continue.*metrics.json"):
        RunDir(out, resume=True).__enter__()
    assert (out / "metrics.json").read_text() == "mine"
    with RunDir(out, resume=True, force=True) as run:  # --force: a new run replaces it whole
        assert run.replacing and not run.resuming
    (out / "checkpoints" / "seed0").mkdir(parents=True)
    (out / "checkpoints" / "seed0" / "checkpoint.pt").write_bytes(b"x")
    with RunDir(out, resume=True) as run:
        assert run.resuming and run.path == out


def test_file_as_run_dir_is_refused(tmp_path):
    f = tmp_path / "x.csv"
    f.write_text("a")
    with pytest.raises(OutputExistsError, match="not a directory"):
        RunDir(f, force=True).__enter__()
    assert f.read_text() == "a"


# ------------------------------------------------------------------ identity
def test_identity_names_what_differs():
    x = np.arange(12, dtype=np.float32).reshape(3, 4)
    a = run_identity(data=[x, np.array([1.0, np.nan, 2.0])], config={"hidden": 32, "lr": 1e-3},
                     grid=np.arange(400.0, 404.0))
    same = run_identity(data=[x.copy(order="F"), np.array([1.0, np.nan, 2.0])], config={"lr": 1e-3, "hidden": 32},
                        grid=np.arange(400.0, 404.0))
    assert identity_differences(a, same) == []
    check_identity(a, same)
    b = run_identity(data=[x + 1, np.array([1.0, np.nan, 2.0])], config={"hidden": 64, "lr": 1e-3},
                     grid=np.arange(400.0, 410.0, 2.0))
    diff = identity_differences(a, b)
    assert diff[0].startswith("other training data")
    assert "400–403 nm, 4 bands vs now 400–408 nm, 5 bands" in diff[1]
    assert diff[2] == "hidden 32 vs now 64"
    with pytest.raises(ResumeMismatchError, match="belongs to another run"):
        check_identity(a, b)
    assert "older socspec" in identity_differences(None, a)[0]


# ------------------------------------------------------------------ manifest
@pytest.fixture
def folder(tmp_path):
    d = tmp_path / "model"
    d.mkdir()
    (d / "weights.pt").write_bytes(b"\x00" * 100)
    (d / "config.json").write_text('{"a": 1}')
    (d / "sub").mkdir()
    (d / "sub" / "x.npz").write_bytes(b"abc")
    write_manifest(d, "socspec-test-model", 1)
    return d


def test_manifest_round_trip_lists_every_file_with_checksums(folder):
    import hashlib

    man = verify_model_folder(folder, "socspec-test-model", 1)
    assert set(man["files"]) == {"weights.pt", "config.json", "sub/x.npz"}
    assert man["files"]["sub/x.npz"] == {"sha256": hashlib.sha256(b"abc").hexdigest(), "bytes": 3}
    assert man["format"] == "socspec-test-model" and man["format_version"] == 1 and man["socspec_version"]


@pytest.mark.parametrize("damage, message", [
    (lambda d: (d / "weights.pt").write_bytes(b""), "weights.pt is damaged \\(empty"),
    (lambda d: (d / "weights.pt").write_bytes(b"\x00" * 50), "weights.pt is damaged \\(truncated"),
    (lambda d: (d / "config.json").write_text('{"a": 2}'), "config.json is damaged \\(modified"),
    (lambda d: (d / "sub" / "x.npz").unlink(), "sub/x.npz is missing"),
    (lambda d: (d / "manifest.json").unlink(), "not a socspec model folder"),
    (lambda d: (d / "manifest.json").write_text("{not json"), "not valid JSON"),
])
def test_damaged_folders_are_refused_with_one_line(folder, damage, message):
    damage(folder)
    with pytest.raises(ModelFolderError, match=message) as ei:
        verify_model_folder(folder, "socspec-test-model", 1)
    assert "\n" not in str(ei.value)


def test_foreign_newer_and_escaping_manifests_are_refused(folder):
    man = json.loads((folder / "manifest.json").read_text())
    with pytest.raises(ModelFolderError, match="is a 'socspec-test-model' folder, not 'socspec-lab-model'"):
        verify_model_folder(folder, "socspec-lab-model", 1)
    (folder / "manifest.json").write_text(json.dumps({**man, "format_version": 2}))
    with pytest.raises(ModelFolderError, match="newer than this socspec reads"):
        verify_model_folder(folder, "socspec-test-model", 1)
    (folder / "manifest.json").write_text(json.dumps({**man, "files": {"../../etc/passwd": {}}}))
    with pytest.raises(ModelFolderError, match="outside the folder"):
        verify_model_folder(folder, "socspec-test-model", 1)


# ------------------------------------------------------------------ safe torch loading
class _Evil:
    """Unpickling this calls Path.write_text: what a hostile checkpoint would do."""

    def __init__(self, target):
        self.target = target

    def __reduce__(self):
        from pathlib import Path
        return (Path.write_text, (Path(self.target), "pwned"))


def test_load_torch_refuses_code_and_loads_plain_checkpoints(tmp_path):
    torch = pytest.importorskip("torch")
    target = tmp_path / "pwned.txt"
    evil = tmp_path / "evil.pt"
    torch.save({"epoch": 3, "x": _Evil(target)}, evil)
    with pytest.raises(SocspecInputError, match="cannot be loaded safely.*could run code"):
        load_torch(evil, what="checkpoint")
    assert not target.exists()
    good = tmp_path / "good.pt"
    torch.save({"epoch": 3, "w": torch.ones(2), "hist": [{"loss": 1.5}], "best": float("inf"),
                "identity": {"data": "ab", "config": {"hidden": 3}}}, good)
    ck = load_torch(good)
    assert ck["epoch"] == 3 and ck["hist"][0]["loss"] == 1.5 and torch.equal(ck["w"], torch.ones(2))
    empty = tmp_path / "empty.pt"
    empty.write_bytes(b"")
    with pytest.raises(SocspecInputError, match="empty.pt: file is empty"):
        load_torch(empty)
    text = tmp_path / "text.pt"
    text.write_text("{not a checkpoint}")
    with pytest.raises(SocspecInputError, match="it is not a torch file"):
        load_torch(text)
    cut = tmp_path / "cut.pt"
    cut.write_bytes(good.read_bytes()[:200])
    with pytest.raises(SocspecInputError, match="truncated or damaged"):
        load_torch(cut)
    import pickle
    plain = tmp_path / "plain.pkl"
    plain.write_bytes(pickle.dumps({"x": _Evil(target)}))
    with pytest.raises(SocspecInputError, match="plain pickle.*could run code"):
        load_torch(plain)
    assert not target.exists()
