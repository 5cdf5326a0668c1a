"""SYNTHETIC remote-sensing SOC corpora for demos, tests and examples — not measurements.

Every corpus made here has ``meta["simulated"] = True`` and a ``synthetic`` column set to True;
:func:`write_corpus` adds a README.txt saying so.

Generative model (per point i, region r):

* **Gaussian random fields** with exponential covariance C(d) = σ² exp(−d/ℓ) on the sphere,
  drawn by random Fourier features: x_i = R·u_i (unit vector, km), ω_m ~ multivariate Student-t
  (ν = 1, 3-D, scale 1/ℓ) — the spectral density of exp(−‖x‖/ℓ) — and
  g(x) = √(2/M) Σ_m cos(ω_m·x + b_m), b_m ~ U(0, 2π). Cost O(n·M), any n.
* ``latent_soc_field`` = √(1−η)·g_ℓ + √η·ε (η = nugget share, ε white). With ``moran_target``,
  η is chosen from the Moran's I of g_ℓ (kNN, k = 8): I ≈ (1−η)·I(g_ℓ) ⇒ η = 1 − target / I(g_ℓ).
* elevation_m, temperature_c (lapse rate −6.5 °C/km), precipitation_mm, clay_pct: region means
  + smooth fields; land_cover (cropland/grassland/forest/shrubland/bare) from a softmax of climate.
* **Planted SOC signal** (the part tabular models can recover):
  log SOC = a_r + 0.35·z(precip) − 0.30·z(temp) + 0.15·z(clay) + 0.10·z(elev) + b_LC
            + 0.35·latent_soc_field,  soc_g_kg = exp(log SOC).
* **Chips** (H×W pixels around the point): soil reflectance = region's mineral mixture from the
  endmember library convolved to the 12 S2 bands, darkened by SOC,
  soil = (1 − a)·minerals + a·f_SOC with a = 0.7·(1 − exp(−SOC/40 g/kg)),
  and by moisture (×(1 − 0.35·w), SWIR B11/B12 more); pixel = f_v·vegetation + (1 − f_v)·soil
  + noise, with the vegetation fraction f_v from land cover and rain. S1 VV/VH (dB) respond to
  moisture and vegetation; DEM chips = elevation + a local slope.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ..kernels.neighbours import EARTH_RADIUS_KM, latlon_to_unit
from .corpus import CHIP_CHANNELS, S2_BANDS, Corpus

SIMULATED_SOURCE = "SIMULATED remote corpus (socspec.remote.simulate) — synthetic, not measurements"

LAND_COVERS = ("cropland", "grassland", "forest", "shrubland", "bare")
_LC_SOC_EFFECT = {"cropland": -0.25, "grassland": 0.15, "forest": 0.30, "shrubland": -0.05,
                  "bare": -0.55}
_LC_VEG_FRACTION = {"cropland": 0.45, "grassland": 0.65, "forest": 0.85, "shrubland": 0.40,
                    "bare": 0.08}

#: region presets of the simulator: box (min_lon, min_lat, max_lon, max_lat), climate shifts,
#: SOC offset a_r (log g/kg), and dominant minerals (Dirichlet weights over the library)
SIM_REGIONS = {
    "north": dict(box=(10.0, 56.0, 22.0, 62.0), elev=250.0, temp=5.0, precip=800.0, clay=15.0,
                  soc=3.3, minerals={"quartz": 4, "orthoclase": 3, "albite": 2, "illite": 1}),
    "south": dict(box=(-6.0, 37.0, 2.0, 42.0), elev=600.0, temp=15.0, precip=450.0, clay=25.0,
                  soc=2.4, minerals={"calcite": 3, "kaolinite": 2, "hematite": 1, "quartz": 2}),
    "east": dict(box=(22.0, 46.0, 30.0, 51.0), elev=200.0, temp=9.0, precip=550.0, clay=30.0,
                 soc=3.0, minerals={"montmorillonite": 3, "illite": 2, "calcite": 1, "quartz": 2}),
    "west": dict(box=(-4.0, 47.0, 4.0, 52.0), elev=150.0, temp=11.0, precip=750.0, clay=20.0,
                 soc=2.9, minerals={"illite": 3, "kaolinite": 2, "quartz": 3, "goethite": 1}),
    "tropic": dict(box=(30.0, -5.0, 38.0, 5.0), elev=1200.0, temp=21.0, precip=1100.0, clay=40.0,
                   soc=2.7, minerals={"kaolinite": 4, "goethite": 2, "hematite": 2, "gibbsite": 1}),
    # soils on basalt (Massif Central): chlorite and smectite weathered from the mafic minerals,
    # magnetite, plagioclase (albite) and Ti oxide (anatase) — chlorite, magnetite and anatase
    # dominate no other region: a planted mineralogy shift in a west-like climate
    "volcanic": dict(box=(2.0, 44.6, 4.2, 46.4), elev=900.0, temp=9.0, precip=850.0, clay=25.0,
                     soc=3.4, minerals={"chlorite": 3, "magnetite": 2, "montmorillonite": 2, "albite": 2,
                                        "anatase": 1}),
}

# typical green-vegetation reflectance in the 12 S2 L2A bands (B1…B12): red edge, NIR plateau
_VEG_S2 = np.array([0.03, 0.04, 0.08, 0.04, 0.12, 0.30, 0.38, 0.42, 0.43, 0.42, 0.22, 0.10])


def _unit_xyz_km(lat_deg, lon_deg) -> np.ndarray:
    return EARTH_RADIUS_KM * latlon_to_unit(lat_deg, lon_deg)


def gaussian_random_field(lat_deg, lon_deg, range_km: float, rng, n_features: int = 2000,
                          standardize: bool = True):
    """Zero-mean unit-variance GRF at the points, covariance ≈ exp(−chord_km / range_km).

    Random Fourier features: ω ~ t₁(0, I/ℓ²) in 3-D (z/√g, z ~ N(0, I/ℓ²), g ~ χ²₁).
    Returns (n,); with ``standardize`` rescaled to mean 0, sd 1 over the points (this removes
    the draw's regional mean, so sample covariances then sit below exp(−d/ℓ)).
    """
    x = _unit_xyz_km(np.asarray(lat_deg, float), np.asarray(lon_deg, float))
    if range_km <= 0:
        v = rng.standard_normal(len(x))
    else:
        z = rng.standard_normal((n_features, 3)) / range_km
        g = rng.chisquare(1.0, size=(n_features, 1))
        omega = z / np.sqrt(g)
        b = rng.uniform(0, 2 * np.pi, n_features)
        v = np.sqrt(2.0 / n_features) * np.cos(x @ omega.T + b).sum(axis=1)
    return (v - v.mean()) / (v.std() + 1e-12) if standardize else v


def _zs(v):
    return (v - v.mean()) / (v.std() + 1e-12)


def _s2_minerals_and_soc():
    """(names, (K, 12) mineral reflectance in S2 bands, (12,) SOC reflectance in S2 bands)."""
    from ..lab.simulate import default_f_soc
    from ..preprocess import sensor_bands

    centre, _, _ = sensor_bands("sentinel2")
    try:
        from ..endmembers import EndmemberLibrary

        lib = EndmemberLibrary.default().to_sensor("sentinel2")
        names, spectra = list(lib.names), np.asarray(lib.spectra)
    except Exception:  # library data missing from an odd install: flat bright/dark pair
        names = ["quartz", "kaolinite", "illite", "calcite", "hematite"]
        spectra = np.array([np.full(12, r) for r in (0.85, 0.80, 0.55, 0.85, 0.30)])
    return names, spectra, default_f_soc(centre)


def simulate_corpus(n: int = 2000, regions=("north", "south", "east", "west"), seed: int = 0,
                    chip_size: int = 8, range_km: float = 120.0, nugget: float = 0.1,
                    moran_target: float | None = None, chips: bool = True,
                    year: int = 2020) -> Corpus:
    """A SYNTHETIC corpus of ``n`` points spread evenly over ``regions`` (keys of SIM_REGIONS).

    ``range_km`` — range ℓ of the SOC field's exponential covariance; ``nugget`` — share η of its
    variance that is spatially white (ignored when ``moran_target`` is given, see module doc).
    ``chips`` — also make S2 (n,12,H,W), S1 (n,2,H,W), DEM (n,1,H,W) chips, H = W = chip_size.
    """
    unknown = [r for r in regions if r not in SIM_REGIONS]
    if unknown:
        raise ValueError(f"unknown simulator region(s) {unknown}; use {', '.join(SIM_REGIONS)}")
    if n < len(regions) * 10:
        raise ValueError(f"n={n} is too small for {len(regions)} regions (need ≥ 10 each)")
    if not 0.0 <= nugget <= 1.0:
        raise ValueError(f"nugget must be in [0, 1], got {nugget}")
    if chips and (isinstance(chip_size, bool) or not isinstance(chip_size, (int, np.integer)) or chip_size < 1):
        raise ValueError(f"chip_size must be a positive number of pixels, got {chip_size!r} (e.g. 8; "
                         "TerraMind takes chips in multiples of 16: 16, 32 …)")
    rng = np.random.default_rng(seed)
    sizes = np.full(len(regions), n // len(regions))
    sizes[: n - sizes.sum()] += 1
    lat, lon, reg = [], [], []
    for r, m in zip(regions, sizes):
        x0, y0, x1, y1 = SIM_REGIONS[r]["box"]
        lon.append(rng.uniform(x0, x1, m))
        # uniform on the sphere within the box (area ∝ d sin φ)
        s0, s1 = np.sin(np.radians(y0)), np.sin(np.radians(y1))
        lat.append(np.degrees(np.arcsin(rng.uniform(s0, s1, m))))
        reg += [r] * m
    lat, lon, reg = np.concatenate(lat), np.concatenate(lon), np.array(reg)
    P = {k: np.array([SIM_REGIONS[r][k] for r in reg]) for k in ("elev", "temp", "precip", "clay", "soc")}

    # smooth covariate fields (ranges in km chosen to look like terrain and climate)
    elev = np.maximum(P["elev"] * (1.0 + 0.6 * gaussian_random_field(lat, lon, 80.0, rng)), 0.0)
    temp = P["temp"] - 6.5e-3 * (elev - P["elev"]) + 1.5 * gaussian_random_field(lat, lon, 300.0, rng)
    precip = np.maximum(P["precip"] * (1.0 + 0.25 * gaussian_random_field(lat, lon, 200.0, rng))
                        + 0.3 * (elev - P["elev"]), 50.0)
    clay = np.clip(P["clay"] + 8.0 * gaussian_random_field(lat, lon, 60.0, rng), 2.0, 70.0)
    logits = np.stack([0.8 - 0.02 * (elev / 100) + 0.002 * (precip - 600) * 0,  # cropland
                       0.3 + 0.001 * (precip - 600),                              # grassland
                       0.0 + 0.003 * (precip - 600) + 0.02 * (elev / 100),        # forest
                       -0.5 + 0.08 * (temp - 10) - 0.002 * (precip - 600),        # shrubland
                       -2.0 + 0.10 * (temp - 10) - 0.004 * (precip - 600)], 1)    # bare
    logits += 0.7 * rng.gumbel(size=logits.shape)  # Gumbel-max = a draw from the softmax
    land_cover = np.array(LAND_COVERS)[logits.argmax(1)]

    # the latent autocorrelated SOC field
    smooth = gaussian_random_field(lat, lon, range_km, rng)
    if moran_target is not None:
        from ..kernels import knn_weights, morans_i

        i_smooth = morans_i(smooth, knn_weights(lat, lon, k=8), permutations=0).I
        nugget = float(np.clip(1.0 - moran_target / max(i_smooth, 1e-6), 0.0, 1.0))
    field = _zs(np.sqrt(1.0 - nugget) * smooth + np.sqrt(nugget) * rng.standard_normal(n))
    lc_effect = np.array([_LC_SOC_EFFECT[c] for c in land_cover])
    log_soc = (P["soc"] + 0.35 * _zs(precip) - 0.30 * _zs(temp) + 0.15 * _zs(clay)
               + 0.10 * _zs(elev) + lc_effect + 0.35 * field)
    soc = np.clip(np.exp(log_soc), 0.5, 400.0)

    veg = np.array([_LC_VEG_FRACTION[c] for c in land_cover])
    veg = np.clip(veg + 0.15 * np.tanh((precip - 600) / 400) + 0.05 * rng.standard_normal(n), 0.0, 0.95)
    moisture = np.clip(0.2 + 0.25 * np.tanh((precip - 600) / 400) + 0.05 * rng.standard_normal(n), 0, 0.8)
    ndvi = (0.42 * veg + 0.3 * (1 - veg) - (0.04 * veg + 0.3 * (1 - veg))) / (
        0.46 * veg + 0.6 * (1 - veg))  # NIR (B8) and red (B4) of the vegetation/soil mix
    doy = rng.integers(60, 300, n)
    dates = pd.to_datetime(year * 1000 + doy, format="%Y%j")

    points = pd.DataFrame({
        "id": [f"sim{i:06d}" for i in range(n)], "lat": lat, "lon": lon, "date": dates,
        "year": np.full(n, float(year)), "soc_g_kg": soc, "region": reg,
        "elevation_m": elev, "temperature_c": temp, "precipitation_mm": precip,
        "clay_pct": clay, "ndvi": ndvi, "land_cover": pd.Categorical(land_cover, LAND_COVERS),
        "latent_soc_field": field, "synthetic": True,
    })
    chip_arrays = band = None
    if chips:
        chip_arrays = _chips(rng, reg, soc, veg, moisture, elev, chip_size)
        band = chip_arrays["s2"].mean(axis=(2, 3)).astype(np.float64)
    meta = {"source": SIMULATED_SOURCE, "simulated": True, "seed": seed, "regions": list(regions),
            "range_km": range_km, "nugget": nugget, "moran_target": moran_target,
            "covariates": ["elevation_m", "temperature_c", "precipitation_mm", "clay_pct", "ndvi",
                           "land_cover"],
            "target_col_original": "soc_g_kg", "soc_unit_original": "g/kg"}
    return Corpus(points, chip_arrays, band, meta)


def _chips(rng, reg, soc, veg, moisture, elev, size):
    names, minerals, f_soc = _s2_minerals_and_soc()
    idx = {nm: k for k, nm in enumerate(names)}
    n = len(reg)
    s2 = np.empty((n, 12, size, size), dtype=np.float32)
    yy, xx = np.mgrid[0:size, 0:size] / max(size - 1, 1) - 0.5
    for r in np.unique(reg):
        rows = np.flatnonzero(reg == r)
        alpha = np.full(len(names), 0.05)
        for nm, w in SIM_REGIONS[r]["minerals"].items():
            if nm in idx:
                alpha[idx[nm]] = float(w)
        mix = rng.dirichlet(alpha, size=len(rows)) @ minerals  # (m, 12)
        a = 0.7 * (1.0 - np.exp(-soc[rows] / 40.0))             # SOC darkening weight
        soil = (1 - a)[:, None] * mix + a[:, None] * f_soc[None, :]
        wet = 1.0 - 0.35 * moisture[rows]
        soil = soil * wet[:, None]
        soil[:, 10:] *= (1.0 - 0.25 * moisture[rows])[:, None]  # water absorption in SWIR
        # within-chip texture: a smooth gradient of vegetation fraction + pixel noise
        gx, gy = rng.normal(0, 0.15, (2, len(rows)))
        fv = np.clip(veg[rows, None, None] + gx[:, None, None] * xx + gy[:, None, None] * yy, 0, 1)
        pix = (fv[:, None] * _VEG_S2[None, :, None, None]
               + (1 - fv[:, None]) * soil[:, :, None, None])
        s2[rows] = np.clip(pix + rng.normal(0, 0.005, pix.shape), 0.0, 1.0)
    vv = -14.0 + 10.0 * moisture + 3.0 * veg
    vh = -21.0 + 7.0 * veg + 4.0 * moisture
    s1 = np.stack([vv, vh], 1)[:, :, None, None] + rng.normal(0, 0.8, (n, 2, size, size))
    slope = rng.normal(0, 5.0, (n, 2))  # metres across the chip
    dem = elev[:, None, None] + slope[:, 0, None, None] * xx + slope[:, 1, None, None] * yy
    return {"s2": s2, "s1": s1.astype(np.float32), "dem": dem[:, None].astype(np.float32)}


_README = """SYNTHETIC DATA — generated by socspec.remote.simulate (seed {seed}); NOT measurements.

Do not use these numbers as soil facts. They exist for demos, tests and examples.

points.csv  one row per synthetic sample: id, lat, lon (WGS84 degrees), date, year,
            soc_g_kg (SOC, g/kg), region, covariates (elevation_m, temperature_c,
            precipitation_mm, clay_pct, ndvi, land_cover), latent_soc_field (the hidden spatial
            field, for checks only — not a feature), synthetic=True.
chips.{ext}  arrays keyed by 'ids' (same order): s2 (n,12,H,W) Sentinel-2 L2A-like reflectance
            B1..B12 (no B10), s1 (n,2,H,W) VV/VH backscatter dB, dem (n,1,H,W) metres.
Regions: {regions}; SOC field range {range_km} km, nugget share {nugget:.3f}.
Generative model: see the docstring of socspec/remote/simulate.py.
"""


def write_corpus(corpus: Corpus, out_dir, *, chips_format: str = "npz") -> dict:
    """Write ``points.csv``, ``chips.npz`` (or ``.h5``) and ``README.txt`` atomically into
    ``out_dir`` (which the caller prepared with :func:`socspec.outputs.prepare_run_dir`)."""
    from ..outputs import atomic_path, atomic_write

    out = Path(out_dir)
    written = {}
    with atomic_path(out / "points.csv") as tmp:
        corpus.points.to_csv(tmp, index=False, date_format="%Y-%m-%d")
    written["points"] = out / "points.csv"
    if corpus.chips:
        ids = corpus.ids.astype("S")
        if chips_format == "h5":
            import h5py

            with atomic_path(out / "chips.h5") as tmp:
                with h5py.File(tmp, "w") as fh:
                    fh["ids"] = ids
                    for k, v in corpus.chips.items():
                        fh.create_dataset(k, data=v, compression="gzip", compression_opts=4)
            written["chips"] = out / "chips.h5"
        elif chips_format == "npz":
            with atomic_path(out / "chips.npz") as tmp:
                np.savez_compressed(tmp, ids=corpus.ids.astype(str), **corpus.chips)
            written["chips"] = out / "chips.npz"
        else:
            raise ValueError(f"chips_format must be 'npz' or 'h5', got {chips_format!r}")
    m = corpus.meta
    with atomic_write(out / "README.txt") as fh:
        fh.write(_README.format(seed=m.get("seed"), ext=chips_format,
                                regions=", ".join(m.get("regions", [])), range_km=m.get("range_km"),
                                nugget=float(m.get("nugget", 0.0))))
    written["readme"] = out / "README.txt"
    return written


__all__ = ["simulate_corpus", "write_corpus", "gaussian_random_field", "SIM_REGIONS",
           "LAND_COVERS", "SIMULATED_SOURCE", "CHIP_CHANNELS", "S2_BANDS"]
