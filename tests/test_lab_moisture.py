"""Wet-soil simulation (Lobell & Asner 2002 exponential model + liquid-water absorption)."""
from __future__ import annotations

import numpy as np
import pytest

from socspec.lab.mixing import water_absorption_per_cm
from socspec.lab.moisture import moisten, moisture_shape_c

WL = np.arange(400.0, 2451.0, 10.0)


def _dry(n=5, seed=0):
    rng = np.random.default_rng(seed)
    return np.clip(0.15 + 0.25 * (WL - 400) / 2050 + rng.normal(0, 0.01, (n, WL.size)), 0.02, 0.9)


def test_dry_is_unchanged_and_wetter_is_darker_everywhere():
    r = _dry()
    np.testing.assert_array_equal(moisten(r, WL, 0.0), r)
    prev = r
    for s in (0.1, 0.3, 0.6, 1.0):
        wet = moisten(r, WL, s)
        assert np.all(wet < prev)  # monotone darkening with the degree of saturation
        prev = wet


def test_known_answer_at_saturation_and_exponential_shape():
    r = _dry(1)
    g, path, s = 0.55, 40.0, 1.0
    wet = moisten(r, WL, s, darkening_at_saturation=g, water_path_um=path, c_vnir=8.0, c_swir=3.0)
    r_sat = r * g * np.exp(-2 * water_absorption_per_cm(WL) / 1e4 * path)
    c = 8.0 + (3.0 - 8.0) * (WL - 400) / 2100
    np.testing.assert_allclose(wet, r_sat + (r - r_sat) * np.exp(-c * s), rtol=1e-12)
    # Lobell & Asner: the VNIR saturates at lower moisture than the SWIR → larger c in the VNIR
    assert moisture_shape_c([500.0])[0] > moisture_shape_c([2200.0])[0]


def test_water_bands_deepen_relative_to_their_shoulders():
    r = np.full((1, WL.size), 0.4)
    wet = moisten(r, WL, 0.8)[0]
    at = lambda nm: wet[np.argmin(np.abs(WL - nm))]  # noqa: E731
    # relative to a continuum through the shoulders, the 1450 and 1940 nm bands get deep
    assert at(1450) < 0.85 * 0.5 * (at(1300) + at(1650))
    assert at(1940) < 0.7 * 0.5 * (at(1800) + at(2150))
    assert at(550) > at(1940)


def test_per_scan_parameters_and_errors():
    r = _dry(3)
    wet = moisten(r, WL, np.array([0.0, 0.5, 1.0]))
    np.testing.assert_array_equal(wet[0], r[0])
    assert wet[2].mean() < wet[1].mean() < r[1].mean()
    with pytest.raises(ValueError, match="saturation"):
        moisten(r, WL, 1.5)
    with pytest.raises(ValueError, match="one value per scan"):
        moisten(r, WL, np.array([0.1, 0.2]))
    with pytest.raises(ValueError, match="wavelength_nm"):
        moisten(r, WL[:-1], 0.5)
