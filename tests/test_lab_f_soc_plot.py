"""The learned f_SOC figure (fit-lab's f_soc.png): what is drawn is the model's f_SOC, and the
marked troughs are the spectrum's absorption minima."""
from __future__ import annotations

import json
import warnings

import numpy as np
import pytest

pytest.importorskip("torch")

from _lab_models import small_library_and_table, small_physics_model  # noqa: E402

from socspec.lab.plots import plot_f_soc, spectrum_troughs  # noqa: E402
from socspec.lab.simulate import default_f_soc, simulate_lab_spectra  # noqa: E402

WL = np.arange(400.0, 2450.0, 10.0)


def test_troughs_of_the_planted_soc_spectrum_are_found_where_planted():
    wl = np.arange(350.0, 2501.0, 5.0)
    at = spectrum_troughs(wl, default_f_soc(wl))
    # planted Gaussian troughs at 1420, 1920 and 2480 nm
    assert len(at) == 3
    np.testing.assert_allclose(at, [1420, 1920, 2480], atol=15)  # the rising continuum moves minima a little


def test_continuum_removal_recovers_a_band_depth_on_a_slope():
    from socspec.lab.plots import continuum_removed
    wl = np.arange(400.0, 2500.0, 5.0)
    line = 0.05 + 5e-5 * wl
    np.testing.assert_allclose(continuum_removed(wl, line), 1.0, atol=1e-9)  # a straight line is its continuum
    band = line * (1 - 0.2 * np.exp(-0.5 * ((wl - 1900) / 30) ** 2))
    cr = continuum_removed(wl, band)
    assert cr.min() == pytest.approx(0.8, abs=1e-3) and wl[np.argmin(cr)] == 1900
    # a broad sag of the continuum (curvature, 600 nm wide) is not a band
    sag = line * (1 - 0.05 * np.exp(-0.5 * ((wl - 1200) / 300) ** 2))
    assert spectrum_troughs(wl, sag).size == 0 and spectrum_troughs(wl, band).tolist() == [1900.0]


def test_no_troughs_in_a_monotone_spectrum_and_shape_errors():
    wl = np.arange(400.0, 2500.0, 10.0)
    assert spectrum_troughs(wl, 0.1 + 1e-4 * wl).size == 0
    assert spectrum_troughs(wl, np.full(wl.size, 0.2)).size == 0
    with pytest.raises(ValueError, match="must be"):
        spectrum_troughs(wl, np.ones(5))


def test_plotted_f_soc_is_the_models_and_troughs_sit_on_it(tmp_path):
    lib, tab = small_library_and_table(WL, n=80, seed=1)
    m = small_physics_model(lib, epochs=5, patience=None).fit(tab)
    fig = plot_f_soc(tmp_path / "f_soc.png", m.wavelength_nm_, m.f_soc_, m.rho_r_soc_)
    ax = fig.axes[0]
    line = ax.get_lines()[0]
    np.testing.assert_array_equal(line.get_xdata(), m.wavelength_nm_)
    np.testing.assert_array_equal(line.get_ydata(), m.f_soc_)
    marks = [ln for ln in ax.get_lines() if ln.get_gid() == "troughs"]
    assert len(marks) == 1
    expect = spectrum_troughs(m.wavelength_nm_, m.f_soc_)
    np.testing.assert_array_equal(marks[0].get_xdata(), expect)
    np.testing.assert_allclose(marks[0].get_ydata(), np.interp(expect, m.wavelength_nm_, m.f_soc_))
    assert (tmp_path / "f_soc.png").read_bytes()[:4] == b"\x89PNG"


def test_fit_lab_reports_the_troughs_of_the_saved_models_f_soc(tmp_path):
    from socspec.lab.workflow import fit_lab_run, load_lab_model
    from socspec.spectra import SpectralTable
    wl = np.arange(400.0, 2450.0, 10.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tab = simulate_lab_spectra(n=60, regions=2, seed=4, wavelength_nm=wl)
    assert isinstance(tab, SpectralTable)
    out = tmp_path / "run"
    fit_lab_run(tab, out, model_params={"hidden": 16, "epochs": 5, "patience": None, "device": "cpu"},
                progress=False)
    metrics = json.loads((out / "metrics.json").read_text())
    model = load_lab_model(out)
    assert metrics["model"]["f_soc_troughs_nm"] == spectrum_troughs(model.wavelength_nm_, model.f_soc_).tolist()
    assert (out / "f_soc.png").read_bytes()[:4] == b"\x89PNG"
