"""Units of soil carbon, stated in one place.

The canonical internal unit of soil organic carbon is **g/kg** (grams of carbon per kilogram
of dry soil); every table column the library produces is named ``soc_g_kg``. The lab model's
loss works with the **mass fraction** (seed 003, eq. 1: σ_SOC = 0.0041 as a fraction), obtained
with :func:`to_fraction` at the model boundary only.

1 % = 10 g/kg = 0.01 (fraction).
"""
from __future__ import annotations

import numpy as np

CANONICAL_SOC_UNIT = "g/kg"
SOC_UNITS = ("fraction", "percent", "g/kg")

# multiply a value in the unit by this factor to get g/kg
_TO_G_KG = {"fraction": 1000.0, "percent": 10.0, "g/kg": 1.0}

_ALIASES = {
    "fraction": "fraction", "frac": "fraction", "mass_fraction": "fraction", "kg/kg": "fraction",
    "percent": "percent", "pct": "percent", "%": "percent", "g/100g": "percent", "perc": "percent",
    "g/kg": "g/kg", "g_kg": "g/kg", "gkg": "g/kg", "g_per_kg": "g/kg", "permille": "g/kg",
}


def normalize_unit(unit: str) -> str:
    """Return the canonical spelling of a SOC unit, or raise ``ValueError`` naming it."""
    key = str(unit).strip().lower().replace(" ", "")
    if key in _ALIASES:
        return _ALIASES[key]
    raise ValueError(f"unknown SOC unit {unit!r}; use one of {', '.join(SOC_UNITS)}")


def convert_soc(values, from_unit: str, to_unit: str = CANONICAL_SOC_UNIT):
    """Convert SOC values between ``fraction``, ``percent`` and ``g/kg``."""
    f, t = normalize_unit(from_unit), normalize_unit(to_unit)
    factor = _TO_G_KG[f] / _TO_G_KG[t]
    if np.isscalar(values):
        return float(values) * factor
    return np.asarray(values, dtype=np.float64) * factor


def to_g_kg(values, unit: str):
    return convert_soc(values, unit, "g/kg")


def to_fraction(values_g_kg):
    """g/kg → mass fraction (what the lab loss uses)."""
    return convert_soc(values_g_kg, "g/kg", "fraction")


def from_fraction(values_fraction):
    """mass fraction → g/kg."""
    return convert_soc(values_fraction, "fraction", "g/kg")
