"""LORO / fine-tune experiments and the OOD report, on a fast PCA stand-in for the lab model."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from _html_tables import html_tables
from _ood_fakes import FakeLabModel, make_regions, water_bands
from scipy import stats

from socspec.errors import SocspecInputError
from socspec.lab.experiments import (
    choose_finetune_labels,
    finetune_new_region,
    leave_one_region_out,
    loro_table,
    write_loro_plots,
)
from socspec.ood import ood_report


def fake_factory(params, seed):
    return FakeLabModel(seed=seed, **params)


@pytest.fixture(scope="module")
def three_regions():
    rng = np.random.default_rng(7)
    return make_regions(rng, {"north": 150, "south": 150, "karst": 80}, shifted=("karst",))


def test_loro_structure_and_welch(three_regions):
    res = leave_one_region_out(three_regions, region_col="region", model_params={"n_components": 5},
                               seeds=(0, 1), progress=False, model_factory=fake_factory)
    loro = res["loro"]
    assert set(loro) == {"north", "south", "karst"}
    for d in loro.values():
        for k in ("r2", "rmse", "mrmse", "auroc", "auroc_pca_q", "frac_flagged", "frac_flagged_pca_q"):
            assert k in d
        assert len(d["seeds"]) == 2
        assert d["mrmse"] == pytest.approx(np.mean([s["mrmse"] for s in d["seeds"]]))
    # the region with an unseen mineral is told apart perfectly and flagged; the others are not
    assert loro["karst"]["auroc"] > 0.95 and loro["karst"]["frac_flagged"] > 0.9
    assert loro["north"]["frac_flagged"] < 0.25
    assert loro["karst"]["mrmse"] > 3 * loro["north"]["mrmse"]
    test = res["loro_test"]
    assert sorted(test["generalising"] + test["failing"]) == sorted(loro)
    assert set(test["generalising"]) == {r for r in loro if loro[r]["r2"] > 0}
    if len(test["failing"]) and len(test["generalising"]):
        a = [s["mrmse"] for r in test["failing"] for s in loro[r]["seeds"]]
        b = [s["mrmse"] for r in test["generalising"] for s in loro[r]["seeds"]]
        ref = stats.ttest_ind(a, b, equal_var=False)
        assert test["t"] == pytest.approx(ref.statistic, nan_ok=True)
    json.dumps(res)  # JSON-able for metrics.json
    df = loro_table(res)
    assert list(df["region"]) == ["karst", "north", "south"]


def test_loro_plots(three_regions, tmp_path):
    res = leave_one_region_out(three_regions, model_params={}, seeds=(0,), progress=False,
                               model_factory=fake_factory)
    # a physics model would add f_SOC per fold: emulate two folds
    res["f_soc_folds"] = {"wavelength_nm": three_regions.wavelength_nm.tolist(),
                          "folds": [{"region": r, "seed": 0, "f_soc": np.linspace(0.1, 0.2, 140).tolist(),
                                     "rho_r_soc": 2.0} for r in ("north", "south")]}
    paths = write_loro_plots(res, tmp_path)
    assert [p.name for p in paths] == ["loro_regions.png", "loro_f_soc.png"]
    assert all(p.read_bytes().startswith(b"\x89PNG") for p in paths)
    # what the pictures show: each panel's bars are the per-region figures, in the table's order
    from socspec.lab.experiments import plot_loro_f_soc, plot_loro_regions

    names = list(res["loro"])
    axes = plot_loro_regions(res).axes
    for ax, key in ((axes[0], "r2"), (axes[1], "mrmse")):
        heights = [b.get_height() for b in ax.patches]
        np.testing.assert_allclose(heights, [res["loro"][n][key] for n in names])
    ours = [b.get_height() for b in axes[3].patches][:len(names)]
    np.testing.assert_allclose(ours, [res["loro"][n]["frac_flagged"] for n in names])
    colours = [b.get_facecolor() for b in axes[0].patches]
    gen = set(res["loro_test"]["generalising"])
    assert len({c for c, n in zip(colours, names) if n in gen}) <= 1  # one colour per verdict
    lines = plot_loro_f_soc(res).axes[0].get_lines()
    assert len(lines) == 2 and all(np.allclose(ln.get_ydata(), np.linspace(0.1, 0.2, 140)) for ln in lines)
    assert plot_loro_f_soc({"loro": res["loro"]}) is None


def test_loro_accepts_reader_mapped_region_column(three_regions):
    t = three_regions.copy()
    t.detection["region_column"] = "site"  # read_spectra(region_col="site") stores it as meta "region"
    res = leave_one_region_out(t, region_col="site", model_params={}, progress=False, model_factory=fake_factory)
    assert set(res["loro"]) == {"north", "south", "karst"}


def test_loro_needs_region_column(three_regions):
    t = three_regions.copy()
    with pytest.raises(SocspecInputError, match="site"):
        leave_one_region_out(t, region_col="site", model_params={}, model_factory=fake_factory)
    t.meta.loc[3, "region"] = None
    with pytest.raises(SocspecInputError, match="row 5"):
        leave_one_region_out(t, model_params={}, model_factory=fake_factory)


def test_finetune_improves_shifted_region(three_regions):
    train = three_regions.subset(three_regions.meta["region"] != "karst")
    new = three_regions.subset(three_regions.meta["region"] == "karst")
    model = FakeLabModel().fit(train)
    coef = model.reg_.coef_.copy()
    tuned, m = finetune_new_region(model, new, n_labels=20, seed=3)
    assert m["after"]["rmse"] < m["before"]["rmse"]
    assert m["n_eval"] == len(new) - 20 and len(m["label_ids"]) == 20
    np.testing.assert_array_equal(model.reg_.coef_, coef)  # the input model is untouched
    assert set(m["label_ids"]) == set(new.ids[choose_finetune_labels(new, 20, 3)])


def test_finetune_label_count_errors(three_regions):
    with pytest.raises(SocspecInputError, match="labels"):
        choose_finetune_labels(three_regions, len(three_regions), 0)
    with pytest.raises(SocspecInputError, match="≥ 1"):
        choose_finetune_labels(three_regions, 0, 0)


def test_ood_report_files_hold_table_values(tmp_path):
    rng = np.random.default_rng(11)
    train = make_regions(rng, {"home": 300})
    model = FakeLabModel().fit(train)
    dry = make_regions(rng, {"rescan": 120})
    moist = make_regions(rng, {"moist": 60})
    moist = moist.with_values(0.75 * moist.values - 0.06 * water_bands())
    from socspec.spectra import SpectralTable
    table = SpectralTable(dry.wavelength_nm, np.vstack([dry.values, moist.values]), "reflectance",
                          pd.concat([dry.meta, moist.meta], ignore_index=True), source="scans.csv")
    table.meta["lat"] = rng.uniform(40, 50, len(table))
    table.meta["lon"] = rng.uniform(0, 10, len(table))
    df, summary = ood_report(model, table, tmp_path / "rep", region_col="region")
    out = tmp_path / "rep"
    for name in ("index.html", "report.md", "regions.csv", "regions.json", "scans.csv",
                 "scores_by_region.png", "pca_q_by_region.png", "residuals_by_region.png", "map.png"):
        assert (out / name).is_file(), name
    csv = pd.read_csv(out / "regions.csv")
    js = pd.DataFrame(json.loads((out / "regions.json").read_text())["regions"])
    pd.testing.assert_frame_equal(csv, df, check_dtype=False)
    pd.testing.assert_frame_equal(js[csv.columns], csv, check_dtype=False)
    html = html_tables((out / "index.html").read_text())[0].set_index("region")
    for reg in ("moist", "rescan"):
        want = df.set_index("region").loc[reg, "frac_flagged"]
        assert float(html.loc[reg, "frac_flagged"]) == pytest.approx(want, rel=1e-3)
    d = df.set_index("region")
    assert d.loc["moist", "frac_flagged"] >= 0.95 and d.loc["moist", "risk"] == "high"
    assert d.loc["rescan", "frac_flagged"] <= 0.10 and d.loc["rescan", "risk"] in ("low", "medium")
    scans = pd.read_csv(out / "scans.csv")
    assert int(scans["ood_flag"].sum()) == int(d["n_flagged"].sum())
    # an existing report is not overwritten without force
    with pytest.raises(SocspecInputError, match="--force"):
        ood_report(model, table, out, region_col="region")


def test_ood_report_missing_region(tmp_path):
    rng = np.random.default_rng(1)
    t = make_regions(rng, {"a": 60})
    model = FakeLabModel().fit(t)
    with pytest.raises(SocspecInputError, match="'county'"):
        ood_report(model, t, tmp_path / "r", region_col="county")
