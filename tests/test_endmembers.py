"""EndmemberLibrary: embedded default, shared CSV library, USGS v7 ASCII, resampling, persistence."""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from socspec.endmembers import USGS_DELETED, EndmemberLibrary, unit_cell_volume_nm3
from socspec.errors import SocspecInputError
from socspec.preprocess import sensor_bands


@pytest.fixture(scope="module")
def default_lib():
    return EndmemberLibrary.default()


# ------------------------------------------------------------------------- embedded default
def test_default_library_contents(default_lib):
    lib = default_lib
    for m in ("quartz", "orthoclase", "albite", "kaolinite", "illite", "montmorillonite", "calcite",
              "dolomite", "goethite", "hematite", "gypsum", "chlorite", "muscovite", "gibbsite"):
        assert m in lib.names
    assert 12 <= lib.n_endmembers <= 20
    np.testing.assert_array_equal(lib.wavelength_nm, np.arange(350.0, 2501.0))
    assert lib.spectra.shape == (lib.n_endmembers, 2151)
    assert np.all((lib.spectra > 0) & (lib.spectra < 1))
    np.testing.assert_allclose(lib.rho_r, lib.density_g_cm3 * lib.size_r_nm)
    i = lib.names.index("hematite")
    assert lib.rho_r[i] == pytest.approx(5.26 * 0.6715, rel=1e-3)
    assert all("synthetic" in s for s in lib.sources)
    frame = lib.to_frame()
    assert frame.shape == (lib.n_endmembers, 5)
    np.testing.assert_allclose(frame.rho_r_mg_m2, lib.rho_r)


def test_default_cell_volumes_follow_from_cell_parameters():
    from socspec_endmembers import data_dir
    m = pd.read_csv(data_dir() / "minerals.csv")
    v = unit_cell_volume_nm3(m.a_angstrom, m.b_angstrom, m.c_angstrom, m.alpha_deg, m.beta_deg, m.gamma_deg)
    np.testing.assert_allclose(m.unit_cell_volume_nm3, v, rtol=1e-4)
    np.testing.assert_allclose(m.size_r_nm, np.cbrt(m.unit_cell_volume_nm3), rtol=2e-4)
    # known answers: calcite 367.8 Å³, quartz 113.0 Å³ (hexagonal V = √3/2 a²c)
    calcite = m.set_index("mineral").loc["calcite"]
    assert calcite.unit_cell_volume_nm3 == pytest.approx(np.sqrt(3) / 2 * 4.9896 ** 2 * 17.061 / 1000, rel=1e-4)


@pytest.mark.parametrize("mineral, lo, hi", [
    ("kaolinite", 2195, 2215), ("calcite", 2325, 2350), ("dolomite", 2305, 2330),
    ("goethite", 890, 960), ("hematite", 840, 890), ("chlorite", 2320, 2345), ("gypsum", 1930, 1960)])
def test_default_spectra_absorb_at_documented_bands(default_lib, mineral, lo, hi):
    """The deepest continuum-relative dip inside [lo−80, hi+80] nm lies in the documented range."""
    lib = default_lib
    wl, f = lib.wavelength_nm, lib.spectra[lib.names.index(mineral)]
    win = (wl >= lo - 80) & (wl <= hi + 80)
    x, y = wl[win], f[win]
    hull = np.interp(x, [x[0], x[-1]], [y[0], y[-1]])
    assert lo <= x[np.argmin(y / hull)] <= hi


def test_default_resamples_to_lab_window_and_sentinel2(default_lib):
    lab = default_lib.resample(np.arange(365.0, 2501.0))
    assert lab.spectra.shape == (default_lib.n_endmembers, 2136)
    np.testing.assert_allclose(lab.spectra, default_lib.spectra[:, 15:], atol=1e-12)  # same grid points
    s2 = default_lib.to_sensor("sentinel2")
    centre, fwhm, names = sensor_bands("sentinel2")
    assert s2.band_names == names and s2.spectra.shape == (default_lib.n_endmembers, 12)
    # reference: Gaussian-weighted mean over ±FWHM/2 on the 1 nm grid, written out in numpy
    wl = default_lib.wavelength_nm
    for b in range(12):
        w = np.exp(-0.5 * ((wl - centre[b]) / (fwhm[b] / 2.3548)) ** 2) * (np.abs(wl - centre[b]) <= fwhm[b] / 2)
        ref = default_lib.spectra @ w / w.sum()
        np.testing.assert_allclose(s2.spectra[:, b], ref, atol=3e-3)
    # hematite is dark in B2 (blue) and bright in B11
    h = s2.names.index("hematite")
    assert s2.spectra[h, 1] < 0.1 < 0.4 < s2.spectra[h, 10]


def test_resample_outside_library_window_is_error(default_lib):
    with pytest.raises(SocspecInputError, match=r"300–2500 nm lies outside the endmember library window 350–2500"):
        default_lib.resample(np.arange(300.0, 2501.0))
    narrow = default_lib.resample(np.arange(400.0, 2001.0, 5.0))
    with pytest.raises(SocspecInputError, match="outside"):
        narrow.to_sensor("sentinel2")


def test_subset_and_constructor_errors(default_lib):
    sub = default_lib.subset(["hematite", "quartz"])
    assert sub.names == ["hematite", "quartz"]
    np.testing.assert_array_equal(sub.spectra[1], default_lib.spectra[default_lib.names.index("quartz")])
    with pytest.raises(SocspecInputError, match=r"\['unobtainium'\] not in the library"):
        default_lib.subset(["unobtainium"])
    with pytest.raises(SocspecInputError, match=r"density_g_cm3 must be positive.*\['b'\]"):
        EndmemberLibrary(["a", "b"], [1.0, 2.0], np.full((2, 2), 0.5), [2.0, -1.0], [0.5, 0.5])
    with pytest.raises(SocspecInputError, match="duplicate"):
        EndmemberLibrary(["a", "a"], [1.0, 2.0], np.full((2, 2), 0.5), [2.0, 2.0], [0.5, 0.5])


@pytest.mark.parametrize("suffix", [".json", ".npz"])
def test_save_load_round_trip(default_lib, tmp_path, suffix):
    lib = default_lib.subset(["kaolinite", "goethite"]).to_sensor("sentinel2")
    path = lib.save(tmp_path / f"lib{suffix}")
    back = EndmemberLibrary.load(path)
    assert back.names == lib.names and back.band_names == lib.band_names
    np.testing.assert_array_equal(back.spectra, lib.spectra)
    np.testing.assert_array_equal(back.wavelength_nm, lib.wavelength_nm)
    np.testing.assert_array_equal(back.rho_r, lib.rho_r)
    assert EndmemberLibrary.from_dict(lib.to_dict()).sources == lib.sources


# ------------------------------------------------------------------------- CSV layout
def _write_csv_library(d):
    wl = np.arange(400.0, 411.0)
    spectra = pd.DataFrame({"wavelength_nm": wl, "alpha": 0.1 + 0.01 * (wl - 400),
                            "beta": 0.5, "gamma": 0.3, "empty": np.nan})
    spectra.loc[[3, 4], "alpha"] = np.nan  # blank cells → interpolated
    spectra.to_csv(d / "spectra.csv", index=False)
    pd.DataFrame({"mineral": ["alpha", "beta", "gamma", "empty"], "density_g_cm3": [2.5, 3.0, np.nan, 1.0],
                  "unit_cell_volume_nm3": [0.125, 0.343, 0.2, 0.1], "size_r_nm": [np.nan, 0.7, np.nan, 0.46]}
                 ).to_csv(d / "minerals.csv", index=False)
    return wl


def test_from_csv_fills_blanks_and_skips_minerals_without_facts(tmp_path):
    wl = _write_csv_library(tmp_path)
    with pytest.warns(UserWarning, match="gamma"):
        lib = EndmemberLibrary.from_csv(tmp_path / "spectra.csv")
    assert lib.names == ["alpha", "beta"]
    np.testing.assert_allclose(lib.spectra[0], 0.1 + 0.01 * (wl - 400))  # linear fill is exact here
    assert lib.report["filled"] == {"alpha": 2} and lib.report["dropped_blank"] == ["empty"]
    assert lib.size_r_nm[0] == pytest.approx(0.5)  # r = V^(1/3) from V = 0.125 nm³
    np.testing.assert_allclose(lib.rho_r, [2.5 * 0.5, 3.0 * 0.7])
    with pytest.raises(SocspecInputError, match=r"minerals\.csv.*gamma"):
        EndmemberLibrary.from_csv(tmp_path / "spectra.csv", on_missing="error")


def test_from_csv_bad_cell_names_row_and_column(tmp_path):
    _write_csv_library(tmp_path)
    df = pd.read_csv(tmp_path / "spectra.csv")
    df["beta"] = df["beta"].astype(object)
    df.loc[5, "beta"] = "n/a?"
    df.to_csv(tmp_path / "spectra.csv", index=False)
    with pytest.raises(SocspecInputError, match=r"spectra\.csv, row 7, column 'beta': not a number"):
        EndmemberLibrary.from_csv(tmp_path / "spectra.csv")


@pytest.mark.shared
def test_shared_csv_library_loads_and_resamples(shared_dir):
    d = shared_dir / "endmembers"
    if not (d / "usgs_asd_350-2500nm.csv").is_file():
        pytest.skip(f"{d} has no USGS ASD CSV")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        lib = EndmemberLibrary.from_csv([d / "usgs_asd_350-2500nm.csv", d / "usgs_beck_205-2976nm.csv"])
    facts = pd.read_csv(d / "minerals.csv").set_index("mineral")
    assert {"kaolinite", "calcite", "goethite", "hematite", "illite"} <= set(lib.names)
    np.testing.assert_array_equal(lib.wavelength_nm, np.arange(350.0, 2501.0))
    np.testing.assert_allclose(lib.rho_r, facts.loc[lib.names, "density_g_cm3"] * facts.loc[lib.names, "size_r_nm"])
    assert np.all(np.isfinite(lib.spectra))
    assert lib.report["filled"].get("chrysotile") == 29  # blank cells reported
    lab = lib.resample(np.arange(365.0, 2501.0))
    assert lab.spectra.shape == (lib.n_endmembers, 2136)
    s2 = lib.to_sensor("sentinel2")
    assert s2.spectra.shape == (lib.n_endmembers, 12) and np.all(np.isfinite(s2.spectra))


# ------------------------------------------------------------------------- USGS v7 ASCII
def _write_usgs(d, title, values, name):
    p = d / name
    p.write_text(title + "\n" + "\n".join(f"{v:.6E}" for v in values) + "\n")
    return p


def test_usgs_ascii_loader(tmp_path):
    wl_um = np.linspace(0.35, 2.5, 44)
    wl_um_file = wl_um.copy()
    wl_um_file[10] = USGS_DELETED  # a deleted wavelength channel → dropped
    wfile = _write_usgs(tmp_path, "splib07a Wavelengths ASD 0.35-2.5 microns 44 ch", wl_um_file,
                        "splib07a_Wavelengths_ASD.txt")
    kaol = 0.2 + 0.2 * wl_um
    kaol[[5, 6]] = USGS_DELETED  # deleted channels inside the spectrum → interpolated
    calc = 0.8 - 0.1 * wl_um
    f1 = _write_usgs(tmp_path, "splib07a Record=4571: Kaolinite CM9 ASDFRb AREF", kaol, "s07_Kaolinite.txt")
    f2 = _write_usgs(tmp_path, "splib07a Record=1234: Calcite WS272 ASDFRa AREF", calc, "s07_Calcite.txt")
    lib = EndmemberLibrary.from_usgs_ascii([f1, f2], wfile, density_g_cm3={"kaolinite": 2.6, "calcite": 2.71},
                                           unit_cell_volume_nm3={"kaolinite": 0.3287, "calcite": 0.3679})
    assert lib.names == ["kaolinite", "calcite"]
    keep = np.ones(44, bool)
    keep[10] = False
    np.testing.assert_allclose(lib.wavelength_nm, wl_um[keep] * 1000)
    np.testing.assert_allclose(lib.spectra[0], (0.2 + 0.2 * wl_um)[keep], atol=1e-6)
    np.testing.assert_allclose(lib.spectra[1], calc[keep], atol=1e-6)
    assert lib.report["filled"] == {"kaolinite": 2} and lib.report["dropped_wavelengths"] == 1
    np.testing.assert_allclose(lib.size_r_nm, np.cbrt([0.3287, 0.3679]))
    assert lib.sources[0].startswith("USGS splib07: splib07a Record=4571")
    r = lib.resample(np.arange(400.0, 2401.0, 50.0))
    # BandResampler treats source channels as boxes; beside the dropped channel the box is uneven
    np.testing.assert_allclose(r.spectra[1], 0.8 - 0.1 * r.wavelength_nm / 1000, atol=2e-3)


def test_usgs_ascii_errors(tmp_path):
    wfile = _write_usgs(tmp_path, "splib07a Wavelengths BECK", np.linspace(0.2, 3.0, 10), "wl_beck.txt")
    short = _write_usgs(tmp_path, "splib07a Record=1: Illite IMt-1", np.full(8, 0.5), "illite.txt")
    with pytest.raises(SocspecInputError,
                       match=r"illite\.txt: has 8 values but the wavelength file wl_beck\.txt has 10"):
        EndmemberLibrary.from_usgs_ascii([short], wfile, density_g_cm3=2.75, size_r_nm=0.77)
    ok = _write_usgs(tmp_path, "splib07a Record=2: Illite IMt-1", np.full(10, 0.5), "illite2.txt")
    with pytest.raises(SocspecInputError, match="no density or unit-cell size for 1 mineral.*illite"):
        EndmemberLibrary.from_usgs_ascii([ok], wfile, on_missing="error")
    bad = tmp_path / "bad.txt"
    bad.write_text("title\n0.5\nabc\n")
    with pytest.raises(SocspecInputError, match=r"bad\.txt, row 3: not a number"):
        EndmemberLibrary.from_usgs_ascii([bad], wfile, density_g_cm3=2.0, size_r_nm=0.5)
