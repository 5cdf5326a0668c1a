"""Preprocessing: known answers, scipy/sklearn references, round trips, error paths."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from scipy.signal import savgol_filter
from sklearn.cross_decomposition import PLSRegression
from sklearn.model_selection import KFold, cross_val_score

from socspec import preprocess as pp
from socspec.errors import SocspecInputError
from socspec.spectra import SpectralTable

WL = np.arange(350.0, 2501.0, 1.0)


def linear_table(wl=WL, n=3, source="lab.csv", kind="reflectance", **meta):
    """Spectra a_i + b_i·λ (exactly representable by any averaging resampler)."""
    a = 0.2 + 0.05 * np.arange(n)[:, None]
    b = 1e-4 * (1 + 0.5 * np.arange(n)[:, None])
    return SpectralTable(wl, a + b * wl[None, :], kind=kind, source=source,
                         meta=pd.DataFrame(meta) if meta else None)


def band_table(rng, n=60, wl=WL):
    """Spectra with a Gaussian absorption at 1700 nm whose depth is the target y."""
    depth = rng.uniform(0.05, 0.4, n)
    base = 0.3 + 1e-4 * (wl - 350)
    r = base[None, :] * (1 - depth[:, None] * np.exp(-0.5 * ((wl - 1700) / 40.0) ** 2))
    r = r * rng.uniform(0.8, 1.2, (n, 1)) + rng.normal(0, 1e-3, (n, wl.size))  # brightness, noise
    return SpectralTable(wl, r, source="band.csv"), depth


# ------------------------------------------------------------------------- table functions
def test_trim_keeps_inclusive_window():
    t = pp.trim(linear_table(), 365, 2500)
    assert t.wavelength_nm[0] == 365 and t.wavelength_nm[-1] == 2500 and t.n_wavelengths == 2136
    np.testing.assert_array_equal(t.values, linear_table().values[:, 15:])


def test_trim_outside_range_names_file():
    with pytest.raises(SocspecInputError, match=r"lab\.csv.*no wavelengths inside 3000–4000"):
        pp.trim(linear_table(), 3000, 4000)


@pytest.mark.parametrize("step", [2.0, 5.0, 10.0])
def test_band_resampler_reproduces_linear_spectrum(step):
    t = linear_table()
    tgt = np.arange(400.0, 2400.0 + step / 2, step)
    out = pp.resample(t, tgt)
    assert out.wavelength_nm.tolist() == tgt.tolist()
    expect = linear_table(tgt).values
    np.testing.assert_allclose(out.values, expect, atol=2e-6)  # float32 storage


def test_upsampling_is_linear_interpolation_not_staircase():
    coarse = linear_table(np.arange(350.0, 2501.0, 10.0))
    out = pp.resample(coarse, np.arange(400.0, 2401.0, 1.0))
    np.testing.assert_allclose(out.values, linear_table(out.wavelength_nm).values, atol=2e-6)


def test_resample_outside_window_is_input_error():
    with pytest.raises(SocspecInputError, match=r"lab\.csv.*300–2500 nm.*outside.*350–2500 nm"):
        pp.resample(linear_table(), np.arange(300.0, 2501.0, 1.0))


def test_sentinel2_bands_and_convolution():
    centre, fwhm, names = pp.sensor_bands("sentinel2")
    assert names == ["B1", "B2", "B3", "B4", "B5", "B6", "B7", "B8", "B8A", "B9", "B11", "B12"]
    assert centre.shape == fwhm.shape == (12,) and np.all(np.diff(centre) > 0)
    s2 = pp.resample_to_sensor(linear_table(), "S2")
    assert s2.detection["band_names"] == names
    # A linear spectrum averaged over a (nearly) symmetric band equals its value at the centre.
    np.testing.assert_allclose(s2.values, linear_table(centre).values, atol=5e-5)
    # A narrow absorption at B12's centre lowers B12 only.
    t = linear_table(n=1)
    dip = t.values * (1 - 0.5 * np.exp(-0.5 * ((WL - 2202.4) / 10) ** 2))
    s2d = pp.resample_to_sensor(t.with_values(dip), "sentinel2")
    drop = (s2.values[0] - s2d.values[0]) / s2.values[0]
    assert drop[-1] > 0.05 and np.all(drop[:-1] < 1e-6)


def test_resample_to_sensor_needs_whole_band_range():
    t = pp.trim(linear_table(), 500, 2500)  # B1 (432–453 nm) is missing
    with pytest.raises(SocspecInputError, match="sentinel2 bands span"):
        pp.resample_to_sensor(t, "sentinel2")
    with pytest.raises(SocspecInputError, match="unknown sensor"):
        pp.sensor_bands("landsat99")


def test_absorbance_round_trip_known_value():
    t = SpectralTable(np.array([400.0, 500.0]), np.array([[0.1, 0.01]]))
    a = pp.to_absorbance(t)
    assert a.kind == "absorbance"
    np.testing.assert_allclose(a.values, [[1.0, 2.0]], rtol=1e-6)
    np.testing.assert_allclose(pp.to_reflectance(a).values, t.values, rtol=1e-6)


def test_savgol_matches_scipy_and_derivative_per_nm(rng):
    wl = np.arange(400.0, 1400.0, 2.0)
    x = rng.normal(size=(4, wl.size))
    out = pp.savgol(SpectralTable(wl, x), 11, 2, 0)
    ref = savgol_filter(x.astype(np.float32).astype(np.float64), 11, 2, axis=1, mode="interp")
    np.testing.assert_allclose(out.values, ref, atol=1e-5)
    # d/dλ of 1e-6·λ² is 2e-6·λ exactly (quadratic is inside the polynomial order), per nm
    q = SpectralTable(wl, (1e-6 * wl ** 2)[None, :], kind="absorbance")
    d = pp.savgol(q, 7, 2, deriv=1)
    np.testing.assert_allclose(d.values[0], 2e-6 * wl, rtol=1e-4)


def test_savgol_needs_even_grid():
    wl = np.concatenate([np.arange(400.0, 500.0), np.arange(500.0, 700.0, 2.0)])
    with pytest.raises(SocspecInputError, match="evenly spaced"):
        pp.savgol(SpectralTable(wl, np.ones((1, wl.size)), source="uneven.csv"))


def test_snv_known_answer():
    t = SpectralTable(np.array([1.0, 2.0, 3.0]), np.array([[1.0, 2.0, 3.0], [2.0, 4.0, 9.0]]))
    out = pp.snv(t).values
    np.testing.assert_allclose(out[0], [-1.0, 0.0, 1.0], atol=1e-6)
    x = np.array([2.0, 4.0, 9.0])
    np.testing.assert_allclose(out[1], (x - x.mean()) / x.std(ddof=1), atol=1e-6)


# ------------------------------------------------------------------------- merging
def test_merge_two_instruments_gives_common_window():
    a = linear_table(WL, n=2, source="asd.csv", id=["s1", "s2"], region=["north", "south"])
    wl_b = np.arange(400.0, 2452.0, 2.0)  # another instrument, 2 nm, stored as absorbance
    b = linear_table(wl_b, n=3, source="foss.csv", id=["s1", "x2", "x3"]).as_absorbance()
    b.detection["instrument"] = "FOSS XDS"
    merged, rep = pp.merge_libraries([a, b])
    assert rep["window_nm"] == [400.0, 2450.0] and rep["step_nm"] == 2.0
    assert merged.kind == "reflectance" and merged.n_samples == 5
    assert merged.wavelength_nm[0] == 400.0 and merged.wavelength_nm[-1] == 2450.0
    libs = {x["name"]: x for x in rep["libraries"]}
    assert libs["asd"]["wl_min_nm"] == 350.0 and libs["foss"]["instrument"] == "FOSS XDS"
    assert libs["foss"]["converted_from_absorbance"] is True
    assert merged.meta["library"].tolist() == ["asd", "asd", "foss", "foss", "foss"]
    assert merged.meta["region"].tolist() == ["north", "south", "foss", "foss", "foss"]
    assert rep["region_filled_from_library"] == ["foss"] and rep["ids_prefixed"]
    assert merged.meta["id"].tolist()[:3] == ["asd:s1", "asd:s2", "foss:s1"]
    # both libraries' linear spectra survive the trip (absorbance → reflectance → resample)
    expect = np.vstack([linear_table(merged.wavelength_nm, n=2).values,
                        linear_table(merged.wavelength_nm, n=3).values])
    np.testing.assert_allclose(merged.values, expect, atol=5e-6)


def test_common_grid_without_overlap_is_error():
    a = pp.trim(linear_table(source="vis.csv"), 350, 800)
    b = pp.trim(linear_table(source="swir.csv"), 1000, 2500)
    with pytest.raises(SocspecInputError, match="share no wavelength window"):
        pp.common_grid([a, b])
    wl, rep = pp.common_grid([linear_table(), pp.trim(linear_table(), 400.5, 2400)], step_nm=5)
    assert wl[0] == 405 and wl[-1] == 2400 and rep["n_wavelengths"] == wl.size


# ------------------------------------------------------------------------- fitted chain
def test_preprocessor_dict_round_trip_identical_output(rng):
    t, _ = band_table(rng, n=5)
    pre = pp.SpectralPreprocessor([("trim", {"wl_min_nm": 365, "wl_max_nm": 2500}),
                                   ("resample", {"step_nm": 5.0}), ("absorbance", {}),
                                   ("savgol", {"window_length": 7, "polyorder": 2, "deriv": 1}),
                                   ("snv", {})])
    out = pre.fit_transform(t)
    assert out.wavelength_nm[0] == 365.0 and out.wavelength_nm[-1] == 2500.0
    back = pp.SpectralPreprocessor.from_dict(json.loads(json.dumps(pre.to_dict())))
    out2 = back.transform(t)
    np.testing.assert_array_equal(out2.values, out.values)
    np.testing.assert_array_equal(out2.wavelength_nm, out.wavelength_nm)
    assert back.required_window_nm_ == (365.0, 2500.0)


def test_preprocessor_other_instrument_and_uncovered_window():
    pre = pp.SpectralPreprocessor.lab_default().fit(linear_table())
    # another instrument on a 2 nm grid that covers the window: same output grid
    other = linear_table(np.arange(350.0, 2502.0, 2.0), source="other.csv").as_absorbance()
    out = pre.transform(other)
    np.testing.assert_array_equal(out.wavelength_nm, np.arange(365.0, 2501.0))
    np.testing.assert_allclose(out.values, linear_table(out.wavelength_nm).values, atol=5e-6)
    short = pp.trim(linear_table(source="/data/short.csv"), 400, 2450)
    with pytest.raises(SocspecInputError, match=r"/data/short\.csv.*400–2450 nm.*needs 365–2500 nm"):
        pre.transform(short)
    no_resample = pp.SpectralPreprocessor([("trim", {"wl_min_nm": 365, "wl_max_nm": 2500})]).fit(linear_table())
    with pytest.raises(SocspecInputError, match="different wavelength grid"):
        no_resample.transform(other)


def test_preprocessor_rejects_unknown_step():
    with pytest.raises(ValueError, match="unknown preprocessing step 'wavelet'"):
        pp.SpectralPreprocessor([("wavelet", {})])
    with pytest.raises(SocspecInputError):
        pp.SpectralPreprocessor.from_dict({"format": "something else"})


# ------------------------------------------------------------------------- sklearn
def test_transformers_in_pipeline_match_table_functions(rng):
    t, _ = band_table(rng, n=8)
    target = np.arange(400.0, 2401.0, 4.0)
    pipe = pp.make_spectral_pipeline(t.wavelength_nm, pp.Trim(wl_min_nm=380, wl_max_nm=2450),
                                     pp.Resample(target_wavelength_nm=target), pp.ToAbsorbance(),
                                     pp.SavitzkyGolay(9, 2, 1), pp.SNV())
    got = pipe.fit_transform(t.values)
    ref = pp.snv(pp.savgol(pp.to_absorbance(pp.resample(pp.trim(t, 380, 2450), target)), 9, 2, 1))
    np.testing.assert_allclose(got, ref.values, atol=1e-4, rtol=1e-4)
    np.testing.assert_array_equal(pipe.steps[1][1].wavelength_nm_out_, target)
    # transformers also take SpectralTables
    tab = pp.Resample(target_wavelength_nm=target).fit(t).transform(t)
    assert isinstance(tab, SpectralTable) and tab.n_wavelengths == target.size


def test_pipeline_with_pls_cross_validates(rng):
    t, depth = band_table(rng, n=80)
    pipe = pp.make_spectral_pipeline(
        t.wavelength_nm, pp.Trim(wl_min_nm=365, wl_max_nm=2500),
        pp.Resample(target_wavelength_nm=np.arange(370.0, 2501.0, 10.0)), pp.ToAbsorbance(),
        pp.SNV(), PLSRegression(n_components=4))
    scores = cross_val_score(pipe, t.values, depth, cv=KFold(4, shuffle=True, random_state=0), scoring="r2")
    assert scores.min() > 0.9
    with pytest.raises(ValueError, match="2136 columns but wavelength_nm has 2151"):
        pp.Trim(wavelength_nm=WL).fit(np.ones((2, 2136)))


def test_irregular_instrument_grid_is_not_a_staircase():
    """1 nm to 1000 nm then 5 nm steps (like the GER IRIS file): a 2 nm target is band-averaged where
    the source is finer and interpolated where it is coarser, so a linear spectrum survives."""
    wl = np.concatenate([np.arange(350.0, 1000.0), np.arange(1000.0, 2501.0, 5.0)])
    tgt = np.arange(400.0, 2401.0, 2.0)
    out = pp.resample(linear_table(wl), tgt)
    # (at the 1→5 nm seam BandResampler's source boxes overlap unevenly: 4e-5 there)
    np.testing.assert_allclose(out.values, linear_table(tgt).values, atol=1e-4)
    with pytest.raises(AssertionError):  # pure band integration would be a staircase above 1000 nm
        got = pp.resample(linear_table(wl), tgt, method="band").values
        np.testing.assert_allclose(got, linear_table(tgt).values, atol=1e-4)


@pytest.mark.shared
@pytest.mark.filterwarnings("ignore::UserWarning")  # the reader's carbon-basis notes
def test_merge_real_lab_libraries(lab_data_dir):
    from socspec.io import read_spectra
    files = sorted(lab_data_dir.glob("*/*.csv"))
    if len(files) < 2:
        pytest.skip(f"fewer than two lab files in {lab_data_dir}")
    tables = [read_spectra(f) for f in files]
    merged, rep = pp.merge_libraries(tables)
    lo = max(t.wavelength_nm[0] for t in tables)
    hi = min(t.wavelength_nm[-1] for t in tables)
    assert lo <= rep["window_nm"][0] < lo + rep["step_nm"] and hi - rep["step_nm"] < rep["window_nm"][1] <= hi
    assert merged.n_samples == sum(t.n_samples for t in tables) and merged.kind == "reflectance"
    assert np.all(np.isfinite(merged.values)) and 0 < merged.values.min() and merged.values.max() < 1.5
    assert set(merged.meta["library"]) == {f.stem for f in files}
    np.testing.assert_allclose(merged.soc_g_kg, np.concatenate([t.soc_g_kg for t in tables]))


def test_preprocessor_sensor_chain_needs_only_the_band_range():
    pre = pp.SpectralPreprocessor([("sensor", {"sensor": "sentinel2"})]).fit(linear_table())
    lo, hi = pre.required_window_nm_
    assert lo == pytest.approx(442.7 - 10.5) and hi == pytest.approx(2202.4 + 87.5)
    narrower = pp.trim(linear_table(np.arange(400.0, 2400.0, 3.0)), 400, 2400)  # other instrument
    out = pp.SpectralPreprocessor.from_dict(pre.to_dict()).transform(narrower)
    np.testing.assert_allclose(out.values, pre.transform(linear_table()).values, atol=1e-4)
    with pytest.raises(SocspecInputError, match="needs 432.2–2289.9 nm"):
        pre.transform(pp.trim(linear_table(source="vnir.csv"), 350, 1100))


def test_linear_resample_onto_the_same_grid_is_an_exact_copy():
    from socspec.preprocess import resample_values
    wl = np.arange(400.0, 700.0, 1.0)
    x = np.random.default_rng(0).uniform(0.1, 0.6, (4, wl.size))
    out = resample_values(x, wl, wl.copy(), method="linear")
    np.testing.assert_array_equal(out, x)
    out[0, 0] = -1.0  # a copy: the caller's array is untouched
    assert x[0, 0] != -1.0
    # a grid shifted by a fraction of a step is interpolated, not passed through
    shifted = resample_values(x, wl, wl[:-1] + 0.5, method="linear")
    np.testing.assert_allclose(shifted, 0.5 * (x[:, :-1] + x[:, 1:]))
