"""socspec.io: layout detection, unit conversion, round trips, bad rows — on files the tests write."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from _spectra_files import WL, WL10, soil_reflectance, wide_csv

from socspec.errors import SocspecInputError
from socspec.io import inspect_summary, read_spectra, write_spectra


def test_raca_layout_metadata_after_spectra(tmp_path, rng, quiet):
    n = 25
    R = soil_reflectance(WL, n, rng)
    soc_pct = rng.uniform(0.3, 4.0, n)
    meta = {"rcapid": [f"C{i:04d}X" for i in range(n)], "hzname": ["Ap"] * n, "bd": rng.uniform(1, 1.6, n),
            "soc": soc_pct, "soc_sd": rng.uniform(0, 0.2, n)}
    R[3, 100] = np.nan  # a missing cell must come back as NaN in the reference comparison below
    p = wide_csv(tmp_path / "raca.csv", [f"{w:g}" for w in WL], R, meta, meta_after=True)
    t = read_spectra(p, drop_bad_rows=True)
    assert t.n_wavelengths == 2151 and t.wavelength_nm[0] == 350 and t.wavelength_nm[-1] == 2500
    assert t.n_samples == n - 1 and t.detection["dropped_rows"] == 1
    assert t.detection["dropped_row_numbers"] == [5]  # data row 4 = spreadsheet row 5
    # reference: plain pandas on the same file
    ref = pd.read_csv(p)
    ref_vals = ref[[f"{w:g}" for w in WL]].to_numpy(np.float32)
    keep = np.isfinite(ref_vals).all(axis=1)
    np.testing.assert_array_equal(t.values, ref_vals[keep])
    assert list(t.ids) == list(ref["rcapid"][keep])
    np.testing.assert_allclose(t.soc_g_kg, ref["soc"][keep] * 10.0, rtol=1e-12)
    assert t.detection["carbon_column"] == "soc" and t.detection["carbon_unit"] == "percent"
    assert "value range" in t.detection["carbon_unit_source"]
    assert {"hzname", "bd", "soc_sd"} <= set(t.meta.columns)
    assert t.kind == "reflectance" and not t.detection["percent"]


@pytest.mark.parametrize("fmt,scale", [("{w:g}", 1), ("wl_{w:g}", 1), ("X{w:g}", 1), ("nm{w:g}", 1),
                                       ("R{w:g}", 1), ("{w:g}nm", 1), ("{w:g}", 1e-3), ("{w:g} um", 1e-3)])
def test_wavelength_headers(tmp_path, rng, quiet, fmt, scale):
    R = soil_reflectance(WL10, 4, rng)
    heads = [fmt.format(w=round(w * scale, 6)) for w in WL10]
    p = wide_csv(tmp_path / "s.csv", heads, R, {"sample_id": list("abcd")})
    t = read_spectra(p)
    np.testing.assert_allclose(t.wavelength_nm, WL10)
    assert t.detection["wavelength_unit"] == ("um" if scale != 1 else "nm")
    assert list(t.ids) == list("abcd")


def test_percent_reflectance_converted(tmp_path, rng, quiet):
    R = soil_reflectance(WL10, 6, rng)
    p = wide_csv(tmp_path / "pct.csv", WL10.astype(int), R * 100)
    t = read_spectra(p)
    assert t.kind == "reflectance" and t.detection["percent"] is True
    np.testing.assert_allclose(t.values, R, rtol=1e-5)


def test_absorbance_detected_by_shape_and_converts_back(tmp_path, rng, quiet):
    wl = np.arange(1100, 2500, 2.0)
    R = soil_reflectance(wl, 8, rng)
    A = -np.log10(R)
    p = wide_csv(tmp_path / "abs.csv", wl.astype(int), A)
    t = read_spectra(p)
    assert t.kind == "absorbance" and t.detection["percent"] is False
    assert "peak" in t.detection["kind_source"]
    np.testing.assert_allclose(t.as_reflectance().values, R, rtol=1e-4)
    # the same reflectance is read as reflectance
    t2 = read_spectra(wide_csv(tmp_path / "r.csv", wl.astype(int), R))
    assert t2.kind == "reflectance"


def test_featureless_values_are_ambiguous_until_kind_given(tmp_path, rng, quiet):
    wl = np.arange(1000, 1300, 5.0)  # no water band, no visible slope
    flat = 0.3 + rng.normal(0, 0.001, (5, wl.size))
    p = wide_csv(tmp_path / "flat.csv", wl.astype(int), flat)
    with pytest.raises(SocspecInputError, match="--kind"):
        read_spectra(p)
    assert read_spectra(p, kind="absorbance").kind == "absorbance"
    assert read_spectra(p, kind="reflectance").kind == "reflectance"


@pytest.mark.parametrize("col,unit,basis,factor", [
    ("soc_g_kg", "g/kg", "SOC", 1.0), ("SOC_pct", "percent", "SOC", 10.0), ("OC (%)", "percent", "SOC", 10.0),
    ("organic_carbon_fraction", "fraction", "SOC", 1000.0), ("carbon_total_pct", "percent", "total C", 10.0),
    ("SOM_pct", "percent", "SOM", 10.0), ("Corg g/kg", "g/kg", "SOC", 1.0)])
def test_carbon_column_and_unit_from_name(tmp_path, rng, quiet, col, unit, basis, factor):
    R = soil_reflectance(WL10, 5, rng)
    c = np.array([0.01, 0.02, 0.015, 0.03, 0.005]) if unit == "fraction" else np.array([1.0, 2.5, 0.4, 3.3, 12.0])
    p = wide_csv(tmp_path / "c.csv", WL10.astype(int), R, {"id": range(5), "clay_pct": [20] * 5,
                                                            "Nt_g_per_kg": [1.0] * 5, col: c})
    t = read_spectra(p)
    assert t.detection["carbon_column"] == col
    assert t.detection["carbon_unit"] == unit and t.detection["carbon_unit_source"] == "column name"
    assert t.detection["carbon_basis"] == basis
    np.testing.assert_allclose(t.soc_g_kg, c * factor)
    if basis == "SOM":
        assert any("MATTER" in w for w in t.detection["warnings"])


def test_carbon_unit_ambiguous_from_values_asks_for_flag(tmp_path, rng, quiet):
    R = soil_reflectance(WL10, 5, rng)
    p = wide_csv(tmp_path / "c.csv", WL10.astype(int), R, {"soc": [5.0, 6.0, 7.0, 5.5, 9.0]})
    with pytest.raises(SocspecInputError, match="--carbon-unit"):
        read_spectra(p)
    t = read_spectra(p, carbon_unit="g/kg")
    np.testing.assert_allclose(t.soc_g_kg, [5.0, 6.0, 7.0, 5.5, 9.0])


def test_overrides_of_columns(tmp_path, rng, quiet):
    R = soil_reflectance(WL10, 3, rng)
    p = wide_csv(tmp_path / "o.csv", WL10.astype(int), R,
                 {"code": ["a", "b", "c"], "farm": ["x", "y", "y"], "my_c": [1.0, 2.0, 3.0]})
    t = read_spectra(p, id_col="code", region_col="farm", carbon_col="my_c", carbon_unit="percent")
    assert list(t.ids) == ["a", "b", "c"] and list(t.meta["region"]) == ["x", "y", "y"]
    np.testing.assert_allclose(t.soc_g_kg, [10, 20, 30])
    with pytest.raises(SocspecInputError, match="not in the file"):
        read_spectra(p, carbon_col="nope")


@pytest.mark.parametrize("suffix", [".csv", ".tsv", ".parquet"])
@pytest.mark.parametrize("kind", ["reflectance", "absorbance"])
def test_write_read_round_trip(tmp_path, rng, quiet, suffix, kind):
    wl = np.arange(400, 2500, 7.0)
    R = soil_reflectance(wl, 6, rng).astype(np.float32)
    meta = pd.DataFrame({"id": [f"s{i}" for i in range(6)], "soc_g_kg": [1.5, 20.0, np.nan, 8.0, 3.0, 40.0],
                         "region": ["a", "a", "b", "b", "c", "c"], "lat": np.linspace(-10, 50, 6),
                         "lon": np.linspace(-5, 20, 6), "ph": [5.5, 6, 6.5, 7, 7.5, 8.0]})
    from socspec.spectra import SpectralTable
    t = SpectralTable(wl, R, "reflectance", meta)
    if kind == "absorbance":
        t = t.as_absorbance()
    out = write_spectra(t, tmp_path / f"t{suffix}")
    back = read_spectra(out)
    assert back.kind == kind
    np.testing.assert_allclose(back.wavelength_nm, wl)
    np.testing.assert_allclose(back.values, t.values, rtol=1e-6)
    assert list(back.ids) == list(meta["id"])
    np.testing.assert_allclose(back.soc_g_kg, meta["soc_g_kg"])
    np.testing.assert_allclose(back.meta["lat"], meta["lat"])
    assert list(back.meta["region"]) == list(meta["region"])
    np.testing.assert_allclose(back.meta["ph"].astype(float), meta["ph"])


def test_envi_spectral_library(tmp_path, rng, quiet):
    import spectral.io.envi as envi

    wl_um = np.arange(0.40, 2.45, 0.01)
    R = soil_reflectance(wl_um * 1000, 3, rng).astype(np.float32)
    header = {"wavelength units": "Micrometers", "wavelength": list(wl_um),
              "spectra names": ["kaolinite_soil", "sand", "clay"]}
    lib = envi.SpectralLibrary(R, header, {})
    lib.save(str(tmp_path / "lib"))
    for name in ("lib.sli", "lib.hdr"):
        t = read_spectra(tmp_path / name)
        np.testing.assert_allclose(t.wavelength_nm, wl_um * 1000, atol=1e-6)
        np.testing.assert_allclose(t.values, R)
        assert t.kind == "reflectance" and t.detection["format"] == "envi"
        assert list(t.ids) == ["kaolinite_soil", "sand", "clay"]


def test_drop_bad_rows_counts_each_reason(tmp_path, rng, quiet):
    R = soil_reflectance(WL10, 8, rng).astype(object)
    R[1, 5] = "abc"
    R[2, 7] = np.nan
    R[4, 9] = 1.9
    soc = [1.0, 2.0, 3.0, 4.0, 5.0, np.nan, 1.0, 2.0]
    p = wide_csv(tmp_path / "bad.csv", WL10.astype(int), R, {"id": range(8), "soc_pct": soc})
    t = read_spectra(p, drop_bad_rows=True, require_carbon=True)
    assert t.n_samples == 4 and t.detection["dropped_rows"] == 4
    assert t.detection["dropped_reasons"] == {"non-numeric spectral value": 1, "missing or infinite spectral value": 1,
                                              "reflectance out of range": 1, "missing carbon": 1}
    assert list(t.ids) == ["0", "3", "6", "7"]
    assert t.detection["dropped_row_numbers"] == [3, 4, 6, 7]
    # without require_carbon the unlabelled row stays (it is useful for the reconstruction loss)
    assert read_spectra(p, drop_bad_rows=True).n_samples == 5


def test_unsorted_columns_on_regular_grid_are_sorted(tmp_path, rng, quiet):
    R = soil_reflectance(WL10, 3, rng)
    p = wide_csv(tmp_path / "rev.csv", WL10[::-1].astype(int), R[:, ::-1])
    t = read_spectra(p)
    np.testing.assert_array_equal(t.wavelength_nm, WL10)
    np.testing.assert_allclose(t.values, R, rtol=1e-6)
    assert "reversed" in t.detection["columns_sorted"]
    perm = rng.permutation(WL10.size)
    t2 = read_spectra(wide_csv(tmp_path / "shuf.csv", WL10[perm].astype(int), R[:, perm]))
    np.testing.assert_allclose(t2.values, R, rtol=1e-6)


def test_separators_encodings_decimal_comma(tmp_path, rng, quiet):
    R = soil_reflectance(WL10, 3, rng)
    meta = {"id": ["a", "b", "c"], "region": ["Île-de-France", "Ñuble", "Skåne"], "soc_pct": [1.0, 2.0, 3.0]}
    ref = None
    for name, kw in [("t.tsv", dict(sep="\t")), ("semi.csv", dict(sep=";", decimal=",")),
                     ("latin.csv", dict(encoding="latin-1")), ("bom.csv", dict(encoding="utf-8-sig")),
                     ("u16.csv", dict(encoding="utf-16")), ("space.txt", dict(sep=" "))]:
        m = dict(meta, region=["IdF", "Nuble", "Skane"]) if name == "space.txt" else meta
        t = read_spectra(wide_csv(tmp_path / name, WL10.astype(int), R, m, **kw))
        np.testing.assert_allclose(t.values, R, rtol=1e-6, err_msg=name)
        np.testing.assert_allclose(t.soc_g_kg, [10, 20, 30], err_msg=name)
        if name != "space.txt":
            assert list(t.meta["region"]) == meta["region"], name
        ref = t
    assert ref.detection["separator"] == "whitespace"


def test_inspect_summary_keys(tmp_path, rng, quiet):
    R = soil_reflectance(WL10, 4, rng) * 100
    p = wide_csv(tmp_path / "s.csv", WL10.astype(int), R, {"id": range(4), "site": list("aabb"),
                                                           "carbon_pct": [1, 2, np.nan, 3]})
    s = inspect_summary(read_spectra(p))
    assert s["n_samples"] == 4 and s["n_wavelengths"] == WL10.size
    assert (s["wavelength_min_nm"], s["wavelength_max_nm"], s["wavelength_step_nm"]) == (350, 2500, 10)
    assert s["kind"] == "reflectance" and s["percent"] is True
    assert s["carbon_column"] == "carbon_pct" and s["carbon_unit"] == "percent"
    assert s["region_column"] == "site" and s["missing_values"] == {"carbon_pct": 1} and s["n_labelled"] == 3


def test_wavenumber_headers_need_the_flag_then_convert(tmp_path, rng, quiet):
    wn = np.arange(4000.0, 10001.0, 50.0)  # cm⁻¹ ↔ 1000–2500 nm
    wl_nm = 1e7 / wn
    R = soil_reflectance(wl_nm, 3, rng)
    p = wide_csv(tmp_path / "ftnir.csv", wn.astype(int), R)
    with pytest.raises(SocspecInputError, match="--wavelength-unit"):
        read_spectra(p)
    t = read_spectra(p, wavelength_unit="cm-1")
    np.testing.assert_allclose(t.wavelength_nm, np.sort(wl_nm))
    np.testing.assert_allclose(t.values, R[:, ::-1], rtol=1e-6)
    assert t.kind == "reflectance"


def test_cli_read_kwargs_match_read_spectra_signature():
    import inspect

    from socspec_cli._read_options import read_kwargs, read_parameters

    params = inspect.signature(read_spectra).parameters
    assert set(read_parameters()) <= set(params)
    assert read_kwargs(kind="absorbance", percent=None, spectra="x.csv", drop_bad_rows=False) == \
        {"kind": "absorbance", "drop_bad_rows": False}


def test_latin1_bytes_beyond_the_sniffed_head(tmp_path, rng, quiet):
    n = 300  # ~ 300 rows × 216 values: the first Latin-1 byte sits far past the first 64 KiB
    R = soil_reflectance(WL10, n, rng)
    regions = ["north"] * (n - 1) + ["Skåne"]
    p = wide_csv(tmp_path / "late.csv", WL10.astype(int), R, {"id": range(n), "region": regions},
                 encoding="latin-1")
    t = read_spectra(p)
    assert t.meta["region"].iloc[-1] == "Skåne" and "latin-1" in t.detection["encoding"]


def test_envi_reflectance_scale_factor_and_nm_units(tmp_path, rng, quiet):
    import spectral.io.envi as envi

    wl = np.arange(400.0, 2450.0, 10.0)
    R = soil_reflectance(wl, 2, rng)
    header = {"wavelength units": "Nanometers", "wavelength": list(wl), "reflectance scale factor": 10000,
              "spectra names": ["a", "b"]}
    envi.SpectralLibrary((R * 10000).astype(np.float32), header, {}).save(str(tmp_path / "scaled"))
    t = read_spectra(tmp_path / "scaled.sli")
    np.testing.assert_allclose(t.values, R, rtol=1e-5)
    np.testing.assert_allclose(t.wavelength_nm, wl)
    assert t.kind == "reflectance" and t.detection["percent"] is False


def test_quoted_fields_holding_the_separator(tmp_path, rng, quiet):
    R = soil_reflectance(WL10, 3, rng)
    meta = {"id": ["a", "b", "c"], "region": ["Wallonia, BE", "Skåne, SE", "São Paulo, BR"]}
    t = read_spectra(wide_csv(tmp_path / "q.csv", WL10.astype(int), R, meta))
    assert t.detection["separator"] == "," and list(t.meta["region"]) == meta["region"]


def test_transposed_layout_one_column_per_sample(tmp_path, rng, quiet):
    R = soil_reflectance(WL10, 3, rng)
    df = pd.DataFrame(R.T * 100, columns=["soil_A", "soil_B", "soil_C"])
    df.insert(0, "Wavelength", WL10 / 1000)  # µm
    p = tmp_path / "asd_export.txt"
    df.to_csv(p, index=False, sep="\t")
    t = read_spectra(p)
    assert list(t.ids) == ["soil_A", "soil_B", "soil_C"] and t.detection["percent"] is True
    np.testing.assert_allclose(t.wavelength_nm, WL10)
    np.testing.assert_allclose(t.values, R, rtol=1e-5)
    assert t.detection["layout"].startswith("transposed")
    df = df.astype(object)
    df.iloc[4, 2] = "n/d"  # wavelength row 4 → file row 6; sample soil_B
    df.to_csv(p, index=False, sep="\t")
    with pytest.raises(SocspecInputError, match=r"row 6, column 'soil_B'.*'n/d'"):
        read_spectra(p)
    t = read_spectra(p, drop_bad_rows=True)
    assert list(t.ids) == ["soil_A", "soil_C"] and t.detection["dropped_ids"] == ["soil_B"]


def test_gzipped_csv(tmp_path, rng, quiet):
    R = soil_reflectance(WL10, 4, rng)
    p = wide_csv(tmp_path / "s.csv.gz", WL10.astype(int), R, {"id": list("abcd"), "soc_pct": [1, 2, 3, 4]})
    t = read_spectra(p)
    np.testing.assert_allclose(t.values, R, rtol=1e-6)
    np.testing.assert_allclose(t.soc_g_kg, [10, 20, 30, 40])
