"""README's command reference is generated from the Typer app; it must equal what the app says."""
from __future__ import annotations

import pytest

from socspec_cli import docgen


def test_readme_command_reference_matches_the_cli():
    text = docgen.README.read_text(encoding="utf-8")
    assert docgen.splice(text, docgen.render()) == text, (
        "README.md's command reference differs from the CLI: run `python -m socspec_cli.docgen --write`")


def test_every_command_and_option_is_in_the_reference():
    from typer.testing import CliRunner

    from socspec_cli.main import app

    ref = docgen.render()
    out = CliRunner().invoke(app, ["fit-lab", "--help"], env={"COLUMNS": "200"}).output
    for flag in ("--wl-min", "--no-alpha-conversion", "--quiet", "--lr", "--patience", "--step"):
        assert flag in out and f"`{flag}" in ref
    for cmd in ("version", "merge", "fit-lab", "finetune-lab", "ood-report", "fit-remote", "demo"):
        assert f"### `socspec {cmd}`" in ref


def test_write_is_idempotent_and_check_fails_on_drift(tmp_path, capsys):
    readme = tmp_path / "README.md"
    readme.write_text(f"# x\n\n{docgen.START}\nold\n{docgen.END}\n\nafter\n", encoding="utf-8")
    assert docgen.main(["--check", "--readme", str(readme)]) == 1
    assert "docgen --write" in capsys.readouterr().err
    docgen.main(["--write", "--readme", str(readme)])
    once = readme.read_text(encoding="utf-8")
    docgen.main(["--write", "--readme", str(readme)])
    assert readme.read_text(encoding="utf-8") == once and once.endswith(f"{docgen.END}\n\nafter\n")
    assert docgen.main(["--check", "--readme", str(readme)]) == 0
    with pytest.raises(ValueError, match="markers"):
        docgen.splice("no markers", "x")
