"""`socspec` — the Typer app. Each command lives in its own module and registers itself here."""
from __future__ import annotations

import importlib

import typer

app = typer.Typer(
    name="socspec",
    help="Soil organic carbon from spectra: lab Vis-NIR models, remote-sensing graph models, OOD risk.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)



@app.callback()
def _root() -> None:
    """socspec: soil organic carbon from lab Vis-NIR spectra and remote sensing."""


@app.command("version")
def version() -> None:
    """Print the socspec version."""
    import socspec

    typer.echo(socspec.__version__)


# Command modules; each defines register(app). A module whose optional dependencies are missing
# (e.g. the remote path on a lab-only install) is skipped, and its commands say so when invoked.
_COMMAND_MODULES = ("inspect_cmd", "merge_cmd", "lab_cmd", "ood_cmd", "remote_cmd", "demo_cmd")

for _name in _COMMAND_MODULES:
    try:
        _mod = importlib.import_module(f"socspec_cli.{_name}")
    except ModuleNotFoundError as _exc:  # command module not written yet or optional dep missing
        if _exc.name and _exc.name.startswith("socspec_cli"):
            continue
        raise
    _mod.register(app)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
