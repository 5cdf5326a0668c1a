"""Issue 11 through the CLI: every hostile-but-realistic case ends in one clear line, exit code 2,
no traceback, and the user's files untouched (tiny synthetic spectra, a few epochs)."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

torch = pytest.importorskip("torch")
from typer.testing import CliRunner  # noqa: E402

from socspec.io import write_spectra  # noqa: E402
from socspec.lab.simulate import simulate_lab_spectra  # noqa: E402
from socspec_cli.main import app  # noqa: E402

WL = np.arange(400.0, 2450.0, 14.0)
runner = CliRunner()
FIT = ["--epochs", "3", "--hidden", "16", "--quiet", "--decoder", "ann"]


def _ok(res):
    assert res.exit_code == 0, res.output
    return res


def _refused(res, *needles):
    """Exit 2, one ``error:`` line, no traceback, and every needle in the message."""
    assert res.exit_code == 2, (res.exit_code, res.output, res.exception)
    assert "Traceback" not in res.output
    err = [ln for ln in res.output.splitlines() if ln.startswith("error:")]
    assert len(err) == 1, res.output
    for n in needles:
        assert n in err[0], (n, err[0])
    return err[0]


def _snapshot(d: Path) -> dict:
    return {p.relative_to(d).as_posix(): p.read_bytes() for p in sorted(d.rglob("*")) if p.is_file()}


class _Evil:
    """Unpickling calls Path.write_text — what a hostile checkpoint or weights file would do."""

    def __init__(self, target):
        self.target = target

    def __reduce__(self):
        return (Path.write_text, (Path(self.target), "pwned"))


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("trust")
    t = simulate_lab_spectra(n=60, n_unlabelled=0, regions=2, seed=3, wavelength_nm=WL)
    write_spectra(t, d / "lib.csv")
    write_spectra(simulate_lab_spectra(n=60, regions=2, seed=9, wavelength_nm=WL), d / "other.csv")
    write_spectra(simulate_lab_spectra(n=60, regions=2, seed=3, wavelength_nm=WL[::2]), d / "coarse.csv")
    keep = (WL < 1800) | (WL > 2000)  # 1800–2000 nm removed
    gap = t.subset(np.arange(8))
    write_spectra(gap.with_values(gap.values[:, keep], wavelength_nm=WL[keep]), d / "gap.csv")
    return d


@pytest.fixture(scope="module")
def run(files):
    out = files / "run"
    _ok(runner.invoke(app, ["fit-lab", str(files / "lib.csv"), "--out", str(out), *FIT]))
    return out


@pytest.fixture
def run_copy(run, tmp_path):
    dst = tmp_path / "run"
    shutil.copytree(run, dst)
    return dst


# 1 ---------------------------------------------------------------- a checkpoint never runs code
def test_1_malicious_checkpoint_is_refused_and_not_executed(files, run_copy, tmp_path):
    target = tmp_path / "pwned.txt"
    ckpt = run_copy / "checkpoints" / "seed0" / "checkpoint.pt"
    real = torch.load(ckpt, weights_only=True)  # the real checkpoints load with weights_only=True
    assert real["identity"]["grid_text"].startswith("400–")
    torch.save({**real, "history": _Evil(target)}, ckpt)
    before = _snapshot(run_copy)
    res = runner.invoke(app, ["fit-lab", str(files / "lib.csv"), "--out", str(run_copy), "--resume", *FIT])
    _refused(res, "checkpoint.pt", "cannot be loaded safely", "could run code")
    assert not target.exists()
    assert _snapshot(run_copy) == before


# 2 ---------------------------------------------------------------- --resume does not bypass --force
def test_2_resume_into_user_folder_without_checkpoint_is_refused(files, tmp_path):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "metrics.json").write_text('{"my": "results"}')
    (mine / "predictions.csv").write_text("id,soc\na,1\n")
    before = _snapshot(mine)
    res = runner.invoke(app, ["fit-lab", str(files / "lib.csv"), "--out", str(mine), "--resume", *FIT])
    _refused(res, "no checkpoint to continue", "metrics.json", "--force")
    assert _snapshot(mine) == before


# 3 ---------------------------------------------------------------- resume checks what it resumes
def test_3_resume_with_other_data_options_or_grid_is_refused(files, run_copy):
    before = _snapshot(run_copy)
    res = runner.invoke(app, ["fit-lab", str(files / "other.csv"), "--out", str(run_copy), "--resume", *FIT])
    _refused(res, "belongs to another run", "other training data")
    res = runner.invoke(app, ["fit-lab", str(files / "lib.csv"), "--out", str(run_copy), "--resume",
                              *FIT[:2], "--hidden", "32", *FIT[4:]])
    _refused(res, "belongs to another run", "hidden 16 vs now 32")
    res = runner.invoke(app, ["fit-lab", str(files / "coarse.csv"), "--out", str(run_copy), "--resume", *FIT])
    _refused(res, "wavelength grid 400–2444 nm, 147 bands vs now 400–2444 nm, 74 bands")
    assert _snapshot(run_copy) == before


def test_3_resume_of_the_same_run_continues(files, run_copy):
    res = _ok(runner.invoke(app, ["fit-lab", str(files / "lib.csv"), "--out", str(run_copy), "--resume",
                                  "--epochs", "5", *FIT[2:]]))
    hist = json.loads((run_copy / "model" / "history.json").read_text())
    assert [h["epoch"] for h in hist] == [0, 1, 2, 3, 4]  # epochs 0–2 from the checkpoint, 3–4 new
    assert "wrote" in res.output


# 4 ---------------------------------------------------------------- one writer per run directory
def test_4_second_writer_is_refused_while_a_run_holds_the_directory(files, tmp_path):
    from socspec.runs import run_lock

    out = tmp_path / "busy"
    with run_lock(out):  # what a first fit-lab holds while it trains
        res = runner.invoke(app, ["fit-lab", str(files / "lib.csv"), "--out", str(out), *FIT])
    _refused(res, "another socspec run is writing this directory")
    assert not out.exists()


# 5 ---------------------------------------------------------------- honest OOD thresholds
def test_5_small_library_gets_a_finite_threshold_and_says_what_it_promises(files, tmp_path):
    small = tmp_path / "small.csv"
    write_spectra(simulate_lab_spectra(n=20, regions=2, seed=5, wavelength_nm=WL), small)
    out = tmp_path / "run_small"
    res = _ok(runner.invoke(app, ["fit-lab", str(small), "--out", str(out), *FIT]))
    # 20 labelled: 8 test + round(0.1·12) = 1 held-in → 9 calibration scans < 19 needed for 5 %
    assert "warning: OOD threshold: only 9 held-out calibration scans" in res.output
    assert "at most 10.0% false alarms" in res.output  # 1/(9+1)
    cfg = json.loads((out / "model" / "config.json").read_text())
    cal = cfg["ood_calibration"]
    assert cal["n_calibration"] == 9 and cal["reached"] is False
    assert cal["false_alarm_achievable"] == pytest.approx(0.1) and cal["scores"] == "held-in scans + test scans"
    assert np.isfinite(cfg["ood_threshold"]) and cfg["ood_threshold"] == pytest.approx(max(cfg["val_scores"]))
    pred = tmp_path / "p.csv"
    res = _ok(runner.invoke(app, ["predict-lab", str(out), str(small), "--out", str(pred)]))
    assert "nan" not in res.output.lower()
    assert "≤ 10.0% false alarms" in res.output and "warning: OOD threshold" in res.output
    df = pd.read_csv(pred)
    assert np.isfinite(df["ood_threshold"]).all() and np.isfinite(df["pca_q_threshold"]).all()
    assert (df["ood_flag"] == (df["ood_score"] > df["ood_threshold"])).all()


def test_5_out_of_fold_calibration_reaches_the_rate_on_a_small_library(tmp_path):
    small = tmp_path / "small.csv"
    write_spectra(simulate_lab_spectra(n=20, regions=2, seed=5, wavelength_nm=WL), small)
    out = tmp_path / "run_cv"
    res = _ok(runner.invoke(app, ["fit-lab", str(small), "--out", str(out), "--ood-calibration", "cv", *FIT]))
    assert "warning: OOD threshold" not in res.output
    cal = json.loads((out / "metrics.json").read_text())["ood"]["calibration"]
    # 1 held-in + 11 out-of-fold (5 refits on the 11 training scans) + 8 test = 20 ≥ 19
    assert cal["n_calibration"] == 20 and cal["reached"] is True and cal["false_alarm_achievable"] == 0.05
    assert cal["scores"] == "held-in scans + out-of-fold training scans (5 refits) + test scans"
    res = runner.invoke(app, ["fit-lab", str(small), "--out", str(tmp_path / "x"), "--ood-calibration", "loo", *FIT])
    _refused(res, "--ood-calibration")


def test_5_enough_scans_reach_the_asked_rate(run):
    m = json.loads((run / "metrics.json").read_text())
    cal = m["ood"]["calibration"]
    # 60 labelled: 24 test + round(0.1·36) = 4 held-in = 28 ≥ 19 → the conformal quantile at 5 %
    assert cal["n_calibration"] == 28 and cal["reached"] is True and cal["false_alarm_achievable"] == 0.05


# 6 ---------------------------------------------------------------- damaged or foreign model folders
def _damage_truncate(m):
    b = (m / "weights.pt").read_bytes()
    (m / "weights.pt").write_bytes(b[: len(b) // 2])


def _damage_other_version(m):
    man = json.loads((m / "manifest.json").read_text())
    (m / "manifest.json").write_text(json.dumps({**man, "format_version": 7}))


def _damage_foreign(m):
    for p in list(m.iterdir()):
        p.unlink()
    (m / "config.json").write_text('{"format": "someone-elses-model"}')


@pytest.mark.parametrize("damage, needles", [
    (_damage_truncate, ("weights.pt is damaged (truncated",)),
    (lambda m: (m / "weights.pt").write_bytes(b""), ("weights.pt is damaged (empty",)),
    (lambda m: (m / "config.json").write_text("{not json"), ("config.json is damaged",)),
    (_damage_other_version, ("format version 7", "newer than this socspec reads (1)", "upgrade socspec")),
    (_damage_foreign, ("not a socspec model folder (manifest.json missing)",)),
])
def test_6_damaged_model_folders_are_refused_in_one_line(files, run_copy, tmp_path, damage, needles):
    damage(run_copy / "model")
    out = tmp_path / "p.csv"
    res = runner.invoke(app, ["predict-lab", str(run_copy), str(files / "lib.csv"), "--out", str(out)])
    _refused(res, "model", *needles)
    assert not out.exists()


def test_6_hostile_weights_with_a_forged_manifest_do_not_run(files, run_copy, tmp_path):
    from socspec.runs import write_manifest

    target = tmp_path / "pwned.txt"
    model = run_copy / "model"
    state = torch.load(model / "weights.pt", weights_only=True)
    torch.save({**state, "x": _Evil(target)}, model / "weights.pt")
    write_manifest(model, "socspec-lab-model", 1)  # a forger can fix the checksums, not the loader
    res = runner.invoke(app, ["predict-lab", str(run_copy), str(files / "lib.csv"), "--out", str(tmp_path / "p.csv")])
    _refused(res, "weights.pt cannot be loaded safely")
    assert not target.exists()
    cfg = json.loads((model / "config.json").read_text())
    cfg["format"] = "socspec-lab-model/0"
    (model / "config.json").write_text(json.dumps(cfg))
    write_manifest(model, "socspec-lab-model", 1)
    res = runner.invoke(app, ["predict-lab", str(run_copy), str(files / "lib.csv"), "--out", str(tmp_path / "p.csv")])
    _refused(res, "config.json is not a socspec-lab-model version 1 configuration")


# 7 ---------------------------------------------------------------- fit-remote options
@pytest.mark.parametrize("args, needles", [
    (["--folds", "1"], ("--folds must be an integer ≥ 2", "at least 2 folds")),
    (["--block-deg", "-1"], ("--block-deg must be > 0",)),
    (["--block-deg", "60", "--folds", "9"], ("--folds 9 needs at least 9 spatial blocks", "--cv random")),
])
def test_7_fit_remote_bad_cv_options(tmp_path, args, needles):
    out = tmp_path / "remote"
    res = runner.invoke(app, ["fit-remote", "--out", str(out), "--n-sim", "200", "--quiet", "--models", "xgboost",
                              *args])
    _refused(res, *needles)
    assert not out.exists()


def test_10_simulate_remote_chip_size_zero_is_refused(tmp_path):
    out = tmp_path / "sim"
    res = runner.invoke(app, ["simulate-remote", "--out", str(out), "--n", "40", "--chip-size", "0"])
    _refused(res, "--chip-size must be a positive number of pixels", "multiples of 16")
    assert not out.exists()


# 8 ---------------------------------------------------------------- gaps and coarser inputs
def test_8_gap_inside_the_model_window_is_refused(files, run, tmp_path):
    out = tmp_path / "p.csv"
    res = runner.invoke(app, ["predict-lab", str(run), str(files / "gap.csv"), "--out", str(out)])
    _refused(res, "gap.csv", "no wavelengths between 1786–2010 nm", "gap inside the 400–2444 nm window")
    assert not out.exists()


def test_8_coarser_input_is_said_once_without_source_lines(files, run, tmp_path):
    out = tmp_path / "p.csv"
    res = _ok(runner.invoke(app, ["predict-lab", str(run), str(files / "coarse.csv"), "--out", str(out)]))
    warn = [ln for ln in res.output.splitlines() if ln.startswith("warning:")]
    assert any("measured every 28 nm but the model works on a 14 nm grid" in w for w in warn), res.output
    assert "warnings.warn" not in res.output and ".py:" not in res.output  # 10: no internal source lines
    assert len(pd.read_csv(out)) == 60


# 9 ---------------------------------------------------------------- --force replaces the whole run
def test_9_force_replaces_the_run_and_leaves_nothing_stale(files, run_copy):
    (run_copy / "old_plot.png").write_bytes(b"old")
    (run_copy / "checkpoints" / "seed9").mkdir()
    (run_copy / "checkpoints" / "seed9" / "checkpoint.pt").write_bytes(b"old")
    _ok(runner.invoke(app, ["fit-lab", str(files / "lib.csv"), "--out", str(run_copy), "--force", *FIT]))
    assert not (run_copy / "old_plot.png").exists()
    assert sorted(p.name for p in (run_copy / "checkpoints").iterdir()) == ["seed0"]
    assert [p.name for p in run_copy.parent.iterdir() if p.name.startswith(".")] == []


def test_9_failed_force_run_keeps_the_old_run_and_failed_new_run_leaves_no_out(files, run_copy, tmp_path):
    before = _snapshot(run_copy)
    # the gap in the unlabelled scans is found inside the run, while the model is being fitted
    bad = ["--unlabeled", str(files / "gap.csv")]
    res = runner.invoke(app, ["fit-lab", str(files / "lib.csv"), "--out", str(run_copy), "--force", *bad, *FIT])
    _refused(res, "gap.csv", "no wavelengths between")
    assert _snapshot(run_copy) == before
    assert sorted(p.name for p in run_copy.parent.iterdir()) == ["run"]  # no staging directory left
    new = tmp_path / "new_out"
    res = runner.invoke(app, ["fit-lab", str(files / "lib.csv"), "--out", str(new), *bad, *FIT])
    _refused(res, "no wavelengths between")
    assert not new.exists()  # 10: a failed run leaves no empty --out


# 10 --------------------------------------------------------------- predict-lab --out
def test_10_predict_lab_out_is_the_input_or_a_directory(files, run, tmp_path):
    src = tmp_path / "scans.csv"
    shutil.copy(files / "lib.csv", src)
    before = src.read_bytes()
    res = runner.invoke(app, ["predict-lab", str(run), str(src), "--out", str(src), "--force"])
    _refused(res, "--out is the input file", "never replaces its input")
    assert src.read_bytes() == before
    res = runner.invoke(app, ["predict-lab", str(run), str(src), "--out", str(tmp_path), "--force"])
    _refused(res, "is a directory, not a file")


def test_10_permission_error_names_the_target(files, run, tmp_path, monkeypatch):
    import socspec.outputs as outputs

    def denied(prefix="", suffix="", dir=None):
        raise PermissionError(13, "Permission denied", str(Path(dir) / f"{prefix}abc123{suffix}"))

    monkeypatch.setattr(outputs.tempfile, "mkstemp", denied)
    target = tmp_path / "p.csv"
    res = runner.invoke(app, ["predict-lab", str(run), str(files / "lib.csv"), "--out", str(target)])
    line = _refused(res, f"{target}: permission denied")
    assert ".part" not in line and "abc123" not in line


def test_10_force_never_deletes_inputs_or_writes_into_a_model_folder(files, run_copy, tmp_path):
    # fit-lab/ood-report --force into the folder that holds their input, or predict-lab into model/
    folder = tmp_path / "data"
    folder.mkdir()
    shutil.copy(files / "lib.csv", folder / "lib.csv")
    before = _snapshot(folder)
    res = runner.invoke(app, ["fit-lab", str(folder / "lib.csv"), "--out", str(folder), "--force", *FIT])
    _refused(res, "--force would replace this directory, which holds the input", "never deletes its inputs")
    assert _snapshot(folder) == before
    before = _snapshot(run_copy)
    res = runner.invoke(app, ["ood-report", str(run_copy), str(files / "lib.csv"), "--region-col", "region",
                              "--out", str(run_copy), "--force"])
    _refused(res, "holds the input")
    res = runner.invoke(app, ["predict-lab", str(run_copy), str(files / "lib.csv"), "--out",
                              str(run_copy / "model" / "config.json"), "--force"])
    _refused(res, "inside a model folder")
    assert _snapshot(run_copy) == before
