"""``socspec demo`` as a library function: the lab path end to end on SIMULATED spectra.

:func:`demo_tables` simulates one library (three regions, the embedded minerals + a planted SOC
spectrum) and sets 60 labelled scans aside as "new scans", plus a *moist batch*: 30 of those new
scans as they would read wet (:func:`socspec.lab.moisture.moisten`). A model trained on dry
scans has never seen wet ones, so the moist batch is what its OOD score should flag.
:func:`run_demo` writes the tables, runs fit-lab, scores the new scans and writes the OOD report.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..spectra import SpectralTable
from .moisture import moisten
from .simulate import simulate_lab_spectra

# A 10 nm grid keeps the demo under two minutes on a laptop CPU.
DEMO_WAVELENGTH_NM = np.arange(400.0, 2451.0, 10.0)
N_LIBRARY, N_UNLABELLED, N_NEW, N_MOIST = 400, 200, 60, 30
# The moist batch: degree of saturation S of the pore space. At S = 0.5 the VNIR is within a few %
# of its saturated value (Lobell & Asner's c ≈ 8 there) while the SWIR is not (c ≈ 3), and the
# 1450 / 1940 nm water bands deepen — the signature of a scan measured before air-drying.
MOIST_SATURATION = 0.5
# Broadband darkening at saturation (moisture.moisten's g) and the liquid-water path (µm); the
# module's defaults, in the range measured wet soils show (reflectance roughly halved).
MOIST_DARKENING = 0.5
MOIST_WATER_PATH_UM = 60.0
MOIST_REGION = "moist_batch"


def moist_scans(table: SpectralTable, saturation: float = MOIST_SATURATION, darkening: float = MOIST_DARKENING,
                water_path_um: float = MOIST_WATER_PATH_UM, region: str = MOIST_REGION,
                id_prefix: str = "moist") -> SpectralTable:
    """``table``'s reflectance scans as they would read wet (SIMULATED): same meta, ids
    ``<id_prefix>001…``, region ``region``."""
    wet = moisten(table.as_reflectance().values, table.wavelength_nm, saturation,
                  darkening_at_saturation=darkening, water_path_um=water_path_um)
    out = table.as_reflectance().with_values(wet.astype(np.float32))
    out.meta["id"] = [f"{id_prefix}{i + 1:03d}" for i in range(len(out))]
    out.meta["region"] = region
    return out


def demo_tables(seed: int = 0) -> tuple[SpectralTable, SpectralTable]:
    """(library, new scans): the library has ``N_LIBRARY`` labelled + ``N_UNLABELLED`` unlabelled
    scans; the new scans are ``N_NEW`` labelled scans of the same simulation followed by
    ``N_MOIST`` of them made moist (:func:`moist_scans`, region ``moist_batch``)."""
    wl = DEMO_WAVELENGTH_NM
    allsim = simulate_lab_spectra(n=N_LIBRARY + N_NEW, n_unlabelled=N_UNLABELLED, regions=3, seed=seed,
                                  wavelength_nm=wl)
    lib = allsim.subset(np.r_[0:N_LIBRARY, N_LIBRARY + N_NEW:N_LIBRARY + N_NEW + N_UNLABELLED])
    new = allsim.subset(np.arange(N_LIBRARY, N_LIBRARY + N_NEW))
    moist = moist_scans(new.subset(np.arange(N_MOIST)))
    new = SpectralTable(wl, np.vstack([new.values, moist.values]), "reflectance",
                        pd.concat([new.meta, moist.meta], ignore_index=True), source="simulated new scans")
    return lib, new


def run_demo(out_dir, *, epochs: int = 300, force: bool = False, progress: bool = True) -> dict:
    """Write ``demo_spectra.csv`` and ``demo_new_scans.csv`` into ``out_dir`` (refused when it exists
    and is not empty, unless ``force``), fit the lab model into ``fit/``, score the new scans into
    ``predictions_new_scans.csv`` and write ``ood_report/``. Returns ``{"paths", "metrics" (fit-lab's),
    "n_library", "n_labelled", "flagged_ordinary", "flagged_moist"}`` (flagged fractions of the
    ordinary new scans and of the moist batch)."""
    from ..io import read_spectra, write_spectra
    from ..ood import ood_report
    from ..outputs import atomic_path, prepare_run_dir
    from .workflow import fit_lab_run, load_lab_model

    out = prepare_run_dir(out_dir, force=force)
    lib, new = demo_tables()
    paths = {"library": out / "demo_spectra.csv", "new_scans": out / "demo_new_scans.csv", "fit": out / "fit",
             "predictions": out / "predictions_new_scans.csv", "ood_report": out / "ood_report"}
    write_spectra(lib, paths["library"])
    write_spectra(new, paths["new_scans"])
    table = read_spectra(paths["library"])
    # one network, not fit-lab's default 5-network committee stacked on PLSR: the demo shows the
    # workflow in seconds (the committee took ~7 min on this library, 2 busy cores)
    metrics = fit_lab_run(table, paths["fit"], model_params=dict(
        decoder="physics", soc_blend="none", hidden=128, epochs=epochs, lr=3e-3, batch_size=None,
        patience=None,
        wl_min_nm=float(DEMO_WAVELENGTH_NM[0]), wl_max_nm=float(DEMO_WAVELENGTH_NM[-1])),
        test_size=0.4, seeds=(0,), force=force, progress=progress)
    model = load_lab_model(paths["fit"])
    scans = read_spectra(paths["new_scans"])
    df = model.predict_frame(scans)
    with atomic_path(paths["predictions"]) as tmp:
        df.to_csv(tmp, index=False)
    is_moist = (scans.meta["region"] == MOIST_REGION).to_numpy()
    ood_report(model, scans, paths["ood_report"], region_col="region", force=True)
    return {"paths": paths, "metrics": metrics, "n_library": len(lib), "n_labelled": int(lib.labelled_mask().sum()),
            "flagged_ordinary": float(df["ood_flag"][~is_moist].mean()),
            "flagged_moist": float(df["ood_flag"][is_moist].mean())}
