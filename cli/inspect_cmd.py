"""`socspec inspect FILE` — what the reader detected in a spectra file."""
from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Annotated

import typer

from socspec_cli._common import user_errors
from socspec_cli._read_options import (
    AverageReplicatesOpt,
    CarbonColOpt,
    CarbonUnitOpt,
    DateColOpt,
    DropBadRowsOpt,
    IdColOpt,
    KindOpt,
    LatColOpt,
    LonColOpt,
    PercentOpt,
    RegionColOpt,
    SepOpt,
    UniqueIdsOpt,
    WavelengthUnitOpt,
    read_kwargs,
)


def _fmt(x) -> str:
    if x is None:
        return "—"
    if isinstance(x, float):
        return f"{x:.4g}"
    return str(x)


def format_summary(s: dict) -> str:
    """Human-readable lines for an :func:`socspec.io.inspect_summary` dict."""
    lines = [f"file:          {s['file']}  ({s.get('format')}"
             + (f", {s['encoding']}, separator {s['separator']!r}" if s.get("encoding") else "") + ")"]
    if not str(s.get("layout", "wide")).startswith("wide"):
        lines.append(f"layout:        {s['layout']}")
    lines.append(f"samples:       {s['n_samples']}" + (f"  ({s['dropped_rows']} bad row(s) dropped: "
                 + ", ".join(f"{k} {v}" for k, v in s["dropped_reasons"].items()) + ")" if s["dropped_rows"] else ""))
    if s["dropped_rows"]:
        nums = s.get("dropped_row_numbers") or []
        if nums:
            lines.append("  dropped rows (file row numbers): " + ", ".join(map(str, nums[:20]))
                         + (", …" if s["dropped_rows"] > 20 else ""))
        elif s.get("dropped_ids"):
            lines.append("  dropped samples: " + ", ".join(s["dropped_ids"][:20]))
    step = s.get("wavelength_step_nm")
    lines.append(f"wavelengths:   {s['n_wavelengths']}, {s['wavelength_min_nm']:g}–{s['wavelength_max_nm']:g} nm, "
                 f"step {_fmt(step)} nm" + ("" if not s.get("irregular_step") else " (median; irregular)")
                 + (f"; headers in {s['wavelength_unit_in_file']}" if s.get("wavelength_unit_in_file") != "nm" else ""))
    if s.get("irregular_step"):
        lines.append("  steps (nm: count): " + ", ".join(f"{k}: {v}" for k, v in s["wavelength_steps_nm"].items()))
    if s.get("columns_sorted"):
        lines.append(f"  columns were {s['columns_sorted']}; sorted")
    kind = s["kind"] + (" in percent (converted to 0–1)" if s["percent"] else
                        " (fraction 0–1)" if s["kind"] == "reflectance" else " log10(1/R)")
    lines.append(f"kind:          {kind}")
    if s.get("kind_source"):
        lines.append(f"  because:     {s['kind_source']}")
    if s.get("percent_source") and s["kind"] == "reflectance":
        lines.append(f"  percent:     {s['percent_source']}")
    lines.append(f"values:        {_fmt(s['value_min'])} – {_fmt(s['value_max'])} "
                 + ("(after % → fraction)" if s["percent"] else "(as read)"))
    if s.get("carbon_column"):
        lines.append(f"carbon:        {s['carbon_column']!r} — {s.get('carbon_basis')}, unit {s['carbon_unit']} "
                     f"({s.get('carbon_unit_source')}); {s['n_labelled']} of {s['n_samples']} rows labelled, "
                     f"{_fmt(s['soc_g_kg_min'])}–{_fmt(s['soc_g_kg_max'])} g/kg")
        if s.get("carbon_choice"):
            lines.append(f"  chosen:      {s['carbon_choice']}")
    elif s.get("carbon_candidates"):
        lines.append(f"carbon:        none chosen — {s.get('carbon_choice')}")
        lines.append(f"  candidates:  {', '.join(s['carbon_candidates'])} (pick one with --carbon-col NAME)")
    else:
        lines.append("carbon:        none found (pass --carbon-col to name it)")
    lines.append("columns by role:")
    for role in ("id", "region", "lat", "lon", "date"):
        lines.append(f"  {role + ':':<8} {s.get(role + '_column') or '—'}")
    others = s.get("other_columns") or []
    lines.append(f"  other:   {', '.join(others) if others else '—'}")
    reps = s.get("replicates") or {}
    if reps.get("n_ids_with_replicates"):
        ex = ", ".join(f"{k} ×{v}" for k, v in reps["examples"].items())
        more = ", …" if reps["n_ids_with_replicates"] > len(reps["examples"]) else ""
        lines.append(f"replicates:    {reps['n_ids_with_replicates']} id(s) scanned more than once, up to "
                     f"{reps['max_scans_per_id']} scans per id ({ex}{more})"
                     + ("; averaged (--average-replicates)" if reps.get("averaged") else
                        "; kept together in splits, --average-replicates averages them"))
    miss = s.get("missing_values") or {}
    lines.append("missing values: " + (", ".join(f"{k} {v}" for k, v in miss.items()) if miss else "none"))
    for w in s.get("warnings") or []:
        lines.append(f"warning: {w}")
    if "regions" in s and len(s["regions"]) > 1:
        lines.append("samples per region: " + ", ".join(f"{k} {v}" for k, v in s["regions"].items()))
    return "\n".join(lines)


def inspect(
    file: Annotated[Path, typer.Argument(help="Spectra file: CSV/TSV/TXT, Parquet, or ENVI .sli/.hdr.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object instead of text.")] = False,
    kind: KindOpt = None,
    percent: PercentOpt = None,
    wavelength_unit: WavelengthUnitOpt = None,
    carbon_col: CarbonColOpt = None,
    carbon_unit: CarbonUnitOpt = None,
    id_col: IdColOpt = None,
    region_col: RegionColOpt = None,
    lat_col: LatColOpt = None,
    lon_col: LonColOpt = None,
    date_col: DateColOpt = None,
    sep: SepOpt = None,
    drop_bad_rows: DropBadRowsOpt = False,
    unique_ids: UniqueIdsOpt = False,
    average_replicates: AverageReplicatesOpt = False,
    require_carbon: Annotated[bool, typer.Option(
        "--require-carbon", help="Check as for training: every row must have carbon.")] = False,
) -> None:
    """Show what was detected in a spectra file: samples, wavelengths, kind, carbon column, roles."""
    from socspec.io import inspect_summary, read_spectra

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the warnings are part of the summary below
        table = read_spectra(file, require_carbon=require_carbon, **read_kwargs(**locals()))
    summary = inspect_summary(table)
    if as_json:
        from socspec.outputs import jsonable

        typer.echo(json.dumps(jsonable(summary), ensure_ascii=False))
    else:
        typer.echo(format_summary(summary))


def register(app: typer.Typer) -> None:
    app.command("inspect")(user_errors(inspect))
