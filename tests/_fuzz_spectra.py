"""Generated spectra files for fuzzing the reader (used by tests/test_io_fuzz.py and
benchmarks/fuzz_reader.py).

:func:`spectra_files` is a hypothesis strategy of ``(filename, bytes, read options)``: wide CSVs
with random wavelength headers (nm, µm, prefixed, suffixed, duplicated, non-monotonic, band
numbers), values (reflectance fraction or percent, absorbance, flat), separators (``,`` ``;`` tab),
decimal commas, broken cells (empty, NaN, inf, text, ``1,5``), ragged rows, meta columns that look
like ids/carbon/regions/coordinates (duplicated ids, text carbon), and encodings (UTF-8, UTF-8 with
BOM, Latin-1, UTF-16).

:func:`check_file` reads one: the reader may refuse it only with ``SocspecInputError``, and an
accepted file must give the same counts, range and kind through ``socspec inspect --json``.
"""
from __future__ import annotations

import gzip
import json
import warnings
from pathlib import Path

import numpy as np
from hypothesis import strategies as st

HEADER_STYLES = ("{w:g}", "wl_{w:g}", "X{w:g}", "R{w:g}", "A_{w:g}", "{w:g}nm", "nm{w:g}", "refl.{w:g}",
                 "{u:g} um", "{u:g}", "{i}", "band_{i}", "{w:.1f}")
META_NAMES = ("id", "sample_id", "ID", "rcapid", "soc", "soc_pct", "OC (%)", "SOC_g_kg", "carbon_total_pct",
              "soc_measured", "soc_scan", "som", "region", "site", "lat", "lon", "latitude", "x_dummy_4326",
              "date", "clay_pct", "pH", "notes", "350", "wavelength", "Wavelength")
TEXT = ("Skåne", "São Paulo", "Île-de-France", "a,b", 'say "hi"', "n/a", "NA", "", "-", "<0.1", "yes", "“wet”", "5 €")
BAD_CELLS = ("", "NaN", "nan", "NA", "inf", "-inf", "abc", "1,5", " 0.3 ", "1e9", "-0.2", "#N/A", "0x1F", "∞")
ENCODINGS = ("utf-8", "utf-8-sig", "latin-1", "cp1252", "utf-16")
SEPARATORS = (",", ";", "\t")


def _soil(wl, n, rng):
    base = 0.08 + 0.30 * (1 - np.exp(-(wl - 300) / 450))
    dips = 0.06 * np.exp(-((wl - 1915) / 45) ** 2) + 0.035 * np.exp(-((wl - 1412) / 30) ** 2)
    return np.clip(rng.uniform(0.6, 1.4, (n, 1)) * (base - dips) + rng.normal(0, 0.003, (n, wl.size)), 0.005, 0.98)


@st.composite
def spectra_files(draw):
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    clean = draw(st.booleans())  # half the files are well formed, so the round trip is exercised too
    n = draw(st.sampled_from([3, 5, 8, 12, 30] + ([] if clean else [4, 2, 1, 6, 0])))
    start = draw(st.sampled_from([350.0, 400.0, 1000.0, 1100.0] + ([] if clean or draw(st.booleans())
                                                                   else [0.0, 1.0, 4000.0])))
    step = draw(st.sampled_from([1.0, 2.0, 5.0, 10.0] + ([] if clean else [50.0, 0.5])))
    m = draw(st.sampled_from([40, 12, 80, 200] + ([] if clean else [5, 3, 2, 1])))
    wl = start + step * np.arange(m)
    order = draw(st.sampled_from(["sorted"] * 6 + ([] if clean else ["reversed", "shuffled", "swap", "dup"])))
    if order == "reversed":
        wl = wl[::-1]
    elif order == "shuffled":
        wl = rng.permutation(wl)
    elif order == "swap" and m > 3:
        wl[[1, 2]] = wl[[2, 1]] + np.array([0.0, 0.3])
    elif order == "dup" and m > 2:
        wl[2] = wl[1]
    style = draw(st.sampled_from(HEADER_STYLES[:9] if clean else HEADER_STYLES))
    headers = [style.format(w=w, u=w / 1000.0, i=i + 1) for i, w in enumerate(wl)]
    kind = draw(st.sampled_from(["fraction", "percent", "absorbance"] + ([] if clean else ["flat"])))
    R = _soil(np.sort(wl) if wl.min() > 100 else np.linspace(350, 2500, m), n, rng)
    vals = {"fraction": R, "percent": R * 100, "absorbance": -np.log10(R),
            "flat": 0.3 + rng.normal(0, 0.001, R.shape)}[kind]
    digits = draw(st.sampled_from([3, 6, 9]))
    cells = [[f"{v:.{digits}g}" for v in row] for row in vals]
    for _ in range(draw(st.sampled_from([0, 1, 3])) if n and not clean else 0):  # broken cells
        cells[int(rng.integers(n))][int(rng.integers(m))] = draw(st.sampled_from(BAD_CELLS))
    meta_names = draw(st.lists(st.sampled_from(META_NAMES), max_size=5))
    meta_cols = []
    for name in meta_names:
        what = draw(st.sampled_from(["id", "dup_id", "num", "pct", "text", "empty", "coord"]))
        col = {"id": [f"s{i}" for i in range(n)], "dup_id": [f"s{i // 2}" for i in range(n)],
               "num": [f"{v:.4g}" for v in rng.uniform(0, 50, n)], "pct": [f"{v:.3g}" for v in rng.uniform(0.1, 4, n)],
               "text": [str(rng.choice(TEXT)) for _ in range(n)], "empty": [""] * n,
               "coord": [f"{v:.5f}" for v in rng.uniform(-200, 200, n)]}[what]
        meta_cols.append((name, col))
    after = draw(st.booleans())
    names = headers + [c[0] for c in meta_cols] if after else [c[0] for c in meta_cols] + headers
    rows = [(row + [c[1][r] for c in meta_cols]) if after else ([c[1][r] for c in meta_cols] + row)
            for r, row in enumerate(cells)]
    if draw(st.integers(0, 9)) == 0:  # ASD ViewSpec export: wavelengths down, one column per sample
        first = draw(st.sampled_from(["Wavelength", "wl", "nm"]))
        names = [first] + [f"s{i % 3 if not clean else i}" for i in range(n)]
        rows = [[h] + [cells[r][j] for r in range(n)] for j, h in enumerate(headers)]
    sep = draw(st.sampled_from(SEPARATORS + ((" ",) if not clean else ())))
    if sep == ";" and draw(st.booleans()):
        rows = [[c.replace(".", ",") for c in row] for row in rows]  # European decimal comma
    if rows and not clean and draw(st.integers(0, 4)) == 0:
        rows[-1] = rows[-1][:-1]  # ragged row
    quote = '"'

    def field(c):
        c = str(c)
        return quote + c.replace(quote, quote * 2) + quote if (sep in c or quote in c or "\n" in c) else c

    eol = draw(st.sampled_from(["\n", "\r\n"]))
    text = eol.join(sep.join(field(c) for c in row) for row in [names] + rows) + (eol if draw(st.booleans()) else "")
    encoding = draw(st.sampled_from(ENCODINGS))
    data = text.encode(encoding, errors="replace")
    suffix = draw(st.sampled_from([".csv", ".csv", ".tsv", ".txt", ".csv.gz"]))
    if suffix.endswith(".gz"):
        data = gzip.compress(data, mtime=0)
    options = draw(st.fixed_dictionaries({}, optional={
        "drop_bad_rows": st.booleans(), "kind": st.sampled_from(["reflectance", "absorbance"]),
        "average_replicates": st.booleans(), "require_carbon": st.sampled_from([False] if clean else [False, True])}))
    return f"fuzz{suffix}", data, options


def cli_args(options: dict) -> list[str]:
    args = []
    for k, v in options.items():
        flag = "--" + k.replace("_", "-")
        if isinstance(v, bool):
            args += [flag] if v else []
        else:
            args += [flag, str(v)]
    return args


def check_file(path: Path, options: dict):
    """Read ``path``; return ('accepted', None) | ('refused', first words of the message).
    Raises AssertionError when an accepted file does not round-trip through `socspec inspect --json`,
    and lets any exception other than SocspecInputError through."""
    from typer.testing import CliRunner

    from socspec.errors import SocspecInputError
    from socspec.io import read_spectra
    from socspec_cli.main import app

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            t = read_spectra(path, **options)
        except SocspecInputError as exc:
            msg = str(exc).split(": ", 1)[-1]
            return "refused", " ".join(msg.replace(str(path), "FILE").split()[:4])
    res = CliRunner().invoke(app, ["inspect", str(path), "--json", *cli_args(options)])
    assert res.exit_code == 0, res.output
    s = json.loads(res.stdout if hasattr(res, "stdout") else res.output)
    got = (s["n_samples"], s["n_wavelengths"], s["wavelength_min_nm"], s["wavelength_max_nm"], s["kind"])
    want = (t.n_samples, t.n_wavelengths, float(t.wavelength_nm[0]), float(t.wavelength_nm[-1]), t.kind)
    assert got == want, (got, want)
    assert np.isfinite(t.values).all() and np.all(np.diff(t.wavelength_nm) > 0)
    return "accepted", None
