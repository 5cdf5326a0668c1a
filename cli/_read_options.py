"""Typer options for reading spectra, shared by every command that reads a spectra file.

Use them as parameter annotations and pass the values on with :func:`read_kwargs`::

    from socspec_cli._read_options import (KindOpt, PercentOpt, WavelengthUnitOpt, CarbonColOpt,
        CarbonUnitOpt, IdColOpt, RegionColOpt, LatColOpt, LonColOpt, DateColOpt, DropBadRowsOpt,
        SepOpt, read_kwargs)

    def fit_lab(spectra: Path, kind: KindOpt = None, percent: PercentOpt = None, ...,
                drop_bad_rows: DropBadRowsOpt = False):
        table = read_spectra(spectra, require_carbon=True, **read_kwargs(**locals()))

``read_kwargs`` picks out exactly the keyword arguments :func:`socspec.io.read_spectra` takes, so
``locals()`` with other parameters in it is fine.
"""
from __future__ import annotations

from typing import Annotated, Optional

import typer

_PANEL = "Reading the spectra file"

KindOpt = Annotated[Optional[str], typer.Option(
    "--kind", help="Values are 'reflectance' or 'absorbance' (log10 1/R). Default: detected.",
    rich_help_panel=_PANEL)]
PercentOpt = Annotated[Optional[bool], typer.Option(
    "--percent/--no-percent", help="Reflectance is in percent (0–100) / a fraction (0–1). Default: detected.",
    rich_help_panel=_PANEL, show_default=False)]
WavelengthUnitOpt = Annotated[Optional[str], typer.Option(
    "--wavelength-unit", help="Unit of the wavelength headers: nm, um or cm-1. Default: detected.",
    rich_help_panel=_PANEL)]
CarbonColOpt = Annotated[Optional[str], typer.Option(
    "--carbon-col", help="Column with soil carbon (default: detected by name: soc, oc, carbon…). '' = none.",
    rich_help_panel=_PANEL)]
CarbonUnitOpt = Annotated[Optional[str], typer.Option(
    "--carbon-unit", "--soc-unit",
    help="Unit of the carbon column: fraction, percent or g/kg. Default: from its name or values. "
    "(--soc-unit: the same option, as fit-remote spells it.)",
    rich_help_panel=_PANEL)]
IdColOpt = Annotated[Optional[str], typer.Option("--id-col", help="Sample id column.", rich_help_panel=_PANEL)]
RegionColOpt = Annotated[Optional[str], typer.Option("--region-col", help="Region/group column.",
                                                     rich_help_panel=_PANEL)]
LatColOpt = Annotated[Optional[str], typer.Option("--lat-col", help="Latitude column (decimal degrees).",
                                                  rich_help_panel=_PANEL)]
LonColOpt = Annotated[Optional[str], typer.Option("--lon-col", help="Longitude column (decimal degrees).",
                                                  rich_help_panel=_PANEL)]
DateColOpt = Annotated[Optional[str], typer.Option("--date-col", help="Sampling date column.",
                                                   rich_help_panel=_PANEL)]
SepOpt = Annotated[Optional[str], typer.Option(
    "--sep", help="Column separator (default: sniffed; 'tab' and 'space' accepted).", rich_help_panel=_PANEL)]
DropBadRowsOpt = Annotated[bool, typer.Option(
    "--drop-bad-rows", help="Drop rows with missing/non-numeric/out-of-range spectra (or missing carbon when "
    "training needs it) instead of stopping; the count is reported.", rich_help_panel=_PANEL)]

UniqueIdsOpt = Annotated[bool, typer.Option(
    "--unique-ids", help="Every row must have its own id: a repeated id is an error (by default repeated ids are "
    "replicate scans of one sample, reported and kept together in splits).", rich_help_panel=_PANEL)]
AverageReplicatesOpt = Annotated[bool, typer.Option(
    "--average-replicates", help="Average the scans that share an id into one spectrum (their carbon must agree "
    "or be missing; other columns from the first scan).", rich_help_panel=_PANEL)]

_READ_KEYS = ("kind", "percent", "wavelength_unit", "carbon_col", "carbon_unit", "id_col", "region_col",
              "lat_col", "lon_col", "date_col", "drop_bad_rows", "sep", "unique_ids", "average_replicates")


def read_kwargs(**values) -> dict:
    """The subset of ``values`` that :func:`socspec.io.read_spectra` accepts (None left out)."""
    return {k: values[k] for k in _READ_KEYS if k in values and values[k] is not None}


def read_parameters() -> list[str]:
    """Names of the reading options (for commands that build their signature by hand)."""
    return list(_READ_KEYS)

