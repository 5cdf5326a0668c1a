"""Corpus reading: LUCAS column detection, chips round trips, and reader errors through the CLI."""

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from socspec.errors import SocspecInputError
from socspec.remote import read_corpus, simulate_corpus, write_corpus
from socspec_cli.main import app

runner = CliRunner()


def _points(tmp_path, **changes):
    df = pd.DataFrame({"id": ["a", "b", "c", "d"], "lat": [45.0, 46.0, 47.0, 48.0],
                       "lon": [5.0, 6.0, 7.0, 8.0], "soc_g_kg": [10.0, 20.0, 30.0, 40.0],
                       "LC": ["B11", "E20", "C10", "B11"]})
    for k, v in changes.items():
        df[k] = v
    p = tmp_path / "pts.csv"
    df.to_csv(p, index=False)
    return p


def _cli_error(args):
    res = runner.invoke(app, args)
    assert res.exit_code == 2, res.output
    assert "Traceback" not in res.output
    return res.output


@pytest.mark.parametrize("change, expect", [
    ({"lat": [45.0, None, 47.0, 48.0]}, ["pts.csv", "row 3", "'lat'", "missing coordinate"]),
    ({"lat": [45.0, 46.0, 147.0, 48.0]}, ["pts.csv", "row 4", "'lat'", "147"]),
    ({"lon": [5.0, 6.0, 7.0, -190.0]}, ["pts.csv", "row 5", "'lon'"]),
    ({"id": ["a", "b", "a", "d"]}, ["pts.csv", "row 2", "'id'", "duplicated id 'a'", "rows 2, 4"]),
    ({"soc_g_kg": [10.0, "lots", 30.0, 40.0]}, ["pts.csv", "row 3", "'soc_g_kg'", "not a number"]),
    ({"soc_g_kg": [10.0, -1.0, 30.0, 40.0]}, ["pts.csv", "row 3", "negative"]),
])
def test_reader_errors_through_cli(tmp_path, change, expect):
    p = _points(tmp_path, **change)
    out = _cli_error(["fit-remote", "--data", str(p), "--out", str(tmp_path / "run")])
    for e in expect:
        assert e in out, (e, out)


def test_unit_errors(tmp_path):
    df = pd.DataFrame({"id": [1, 2], "lat": [45.0, 46.0], "lon": [5.0, 6.0], "soc": [1.0, 2.0]})
    p = tmp_path / "u.csv"
    df.to_csv(p, index=False)
    out = _cli_error(["fit-remote", "--data", str(p), "--out", str(tmp_path / "r")])
    assert "u.csv" in out and "'soc'" in out and "--soc-unit" in out
    out = _cli_error(["fit-remote", "--data", str(p), "--out", str(tmp_path / "r"),
                      "--soc-unit", "stones"])
    assert "stones" in out
    # percent is converted to g/kg; 2 % = 20 g/kg; an implausible unit is caught
    assert read_corpus(p, soc_unit="percent").soc_g_kg.tolist() == [10.0, 20.0]
    with pytest.raises(SocspecInputError, match="more than the soil"):
        read_corpus(p, soc_unit="fraction")


def test_missing_feature_and_target_columns(tmp_path):
    p = _points(tmp_path)
    out = _cli_error(["fit-remote", "--data", str(p), "--out", str(tmp_path / "r"),
                      "--features", "lat,lon,LU"])
    assert "'LU'" in out and "pts.csv" in out
    out = _cli_error(["fit-remote", "--data", str(p), "--out", str(tmp_path / "r2"),
                      "--target-col", "OC"])
    assert "'OC'" in out


@pytest.mark.parametrize("fmt", ["npz", "h5"])
def test_simulated_corpus_round_trip(tmp_path, fmt):
    if fmt == "h5":
        pytest.importorskip("h5py")
    c = simulate_corpus(n=60, seed=0, chip_size=4)
    files = write_corpus(c, tmp_path, chips_format=fmt)
    assert "SYNTHETIC" in files["readme"].read_text()
    back = read_corpus(files["points"], chips=files["chips"])
    assert back.ids.tolist() == c.ids.tolist()
    assert np.allclose(back.soc_g_kg, c.soc_g_kg)
    for k in ("s2", "s1", "dem"):
        assert np.array_equal(back.chips[k], c.chips[k])
    assert back.simulated and back.meta["columns"]["lat"] == "lat"
    # chips are matched by id, not by position
    perm = np.random.default_rng(0).permutation(len(c))
    np.savez(tmp_path / "shuffled.npz", ids=c.ids[perm], **{k: v[perm] for k, v in c.chips.items()})
    again = read_corpus(files["points"], chips=tmp_path / "shuffled.npz")
    assert np.array_equal(again.chips["s2"], c.chips["s2"])
    # a bounding box keeps chips aligned with the rows it keeps
    sub = back.select_region(bbox="-10,35,5,45")
    assert len(sub) == int(((back.lat >= 35) & (back.lat <= 45) & (back.lon <= 5)).sum()) > 0
    assert np.array_equal(sub.chips["s2"], back.chips["s2"][(back.lat <= 45) & (back.lon <= 5)])


def test_chip_errors(tmp_path):
    p = _points(tmp_path)
    ids = np.array(["a", "b", "c", "d"])
    np.savez(tmp_path / "wrong.npz", ids=ids, s2=np.zeros((4, 10, 3, 3), np.float32))
    out = _cli_error(["fit-remote", "--data", str(p), "--chips", str(tmp_path / "wrong.npz"),
                      "--out", str(tmp_path / "r")])
    assert "wrong.npz" in out and "'s2'" in out and "(4, 12, H, W)" in out
    np.savez(tmp_path / "few.npz", ids=ids[:3], s2=np.zeros((3, 12, 3, 3), np.float32))
    out = _cli_error(["fit-remote", "--data", str(p), "--chips", str(tmp_path / "few.npz"),
                      "--out", str(tmp_path / "r")])
    assert "few.npz" in out and "row 5" in out and "'d'" in out


def test_lucas_columns_and_unit_detected(shared_dir):
    path = shared_dir / "data" / "remote" / "lucas2015_europe" / "lucas2015_topsoil.csv"
    if not path.is_file():
        pytest.skip(f"{path} not found")
    c = read_corpus(path, max_soc_g_kg=87)
    assert c.meta["columns"] == {"id": "Point_ID", "lat": "lat", "lon": "long", "date": None,
                                 "target": "OC"}
    assert c.meta["soc_unit_original"] == "g/kg"
    assert len(c) == 19882 and c.meta["n_dropped_above_max_soc"] == 21859 - 19882
    assert c.soc_g_kg.max() <= 87 and not c.simulated
    assert len(c.select_region("europe")) == len(c)  # the europe preset holds all LUCAS points
    X = c.feature_frame(["lat", "lon", "LC", "LU"])
    assert str(X["LC"].dtype) == "category" and X["LC"].cat.categories.size > 50


def test_parquet_dates_and_bad_date(tmp_path):
    df = pd.DataFrame({"Point_ID": [11, 12, 13], "latitude": [10.0, -5.0, 0.0],
                       "longitude": [20.0, 30.0, 35.0], "soc_percent": [1.5, 0.8, None],
                       "date": ["2019-03-01", "2019-07-15", "2020-01-31"], "LC": ["a", "b", "a"]})
    p = tmp_path / "pts.parquet"
    df.to_parquet(p)
    c = read_corpus(p)
    assert c.ids.tolist() == ["11", "12", "13"] and c.meta["soc_unit_original"] == "percent"
    assert c.soc_g_kg[:2].tolist() == [15.0, 8.0] and np.isnan(c.soc_g_kg[2])
    assert c.points["year"].tolist() == [2019.0, 2019.0, 2020.0]
    assert c.labelled_mask().tolist() == [True, True, False]
    assert len(c.select_region("africa")) == 3 and len(c.select_region("europe")) == 0
    df.loc[1, "date"] = "sometime"
    df.to_csv(tmp_path / "bad.csv", index=False)
    with pytest.raises(SocspecInputError, match=r"bad.csv, row 3, column 'date': unreadable date 'sometime'"):
        read_corpus(tmp_path / "bad.csv")
