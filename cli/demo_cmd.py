"""`socspec demo --out DIR`: the lab path end to end on SIMULATED spectra, in under two minutes."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ._common import echo, is_tty, note, user_errors


def demo(
    out: Annotated[Path, typer.Option("--out", help="demo directory")],
    force: Annotated[bool, typer.Option("--force", help="write into an existing non-empty --out")] = False,
    epochs: Annotated[int, typer.Option("--epochs", help="training epochs (small: it is a demo)")] = 300,
    quiet: Annotated[bool, typer.Option("--quiet", help="no progress bars")] = False,
) -> None:
    """Generate a SIMULATED lab library, run fit-lab, predict-lab and ood-report on it."""
    from socspec.lab.demo import run_demo
    from socspec.lab.workflow import summary_table

    note("socspec demo uses SIMULATED spectra (linear mixtures of the endmember library + a planted SOC spectrum; "
         "a moist batch made wet by a soil-moisture model)")
    res = run_demo(out, epochs=epochs, force=force, progress=not quiet and is_tty())
    p = res["paths"]
    echo(f"1/3 simulated library: {p['library']} ({res['n_library']} scans, {res['n_labelled']} with SOC); "
         f"new scans: {p['new_scans']}")
    echo(f"2/3 fit-lab → {p['fit']}")
    echo(summary_table(res["metrics"]))
    echo(f"3/3 predict-lab → {p['predictions']}: flagged {res['flagged_ordinary']:.0%} of ordinary new scans and "
         f"{res['flagged_moist']:.0%} of the moist batch")
    echo(f"    ood-report → {p['ood_report']}")


def register(app: typer.Typer) -> None:
    app.command("demo")(user_errors(demo))
