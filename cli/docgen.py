"""Render the README's command reference from the Typer app, so the two cannot drift apart.

    python -m socspec_cli.docgen --write    # rewrite the section between the markers in README.md
    python -m socspec_cli.docgen --check    # exit 1 (and say so) when README.md differs from the app

The section lies between ``<!-- cli-reference:start -->`` and ``<!-- cli-reference:end -->``.
It is rendered from the commands behind the Typer app — the usage line, the help text and each
parameter's ``--help`` record (names, type, help, default) — not from ``--help``'s boxed terminal
output, so it does not depend on the terminal width. ``--write`` is idempotent: writing twice changes nothing.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import typer

START = "<!-- cli-reference:start -->"
END = "<!-- cli-reference:end -->"
README = Path(__file__).resolve().parents[1] / "README.md"


def _cell(text) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def _param_row(ctx, p) -> str | None:
    """One table row from the parameter's ``--help`` record (names + type, help + default)."""
    rec = None if getattr(p, "hidden", False) else p.get_help_record(ctx)
    if not rec or rec[0].startswith("--help"):
        return None
    return f"| `{_cell(rec[0])}` | {_cell(rec[1])} |"


def _usage(p) -> str:
    """An argument as ``--help``'s usage line shows it: FILE, [FILE], FILES..."""
    text = p.name.upper() + ("..." if p.nargs == -1 else "")
    return text if p.required else f"[{text}]"


def render(app: typer.Typer | None = None) -> str:
    """The command reference in Markdown (without the markers)."""
    if app is None:
        from .main import app
    group = typer.main.get_command(app)
    ctx = group.context_class(group, info_name="socspec")
    out = ["## Command reference",
           "",
           "Generated from the CLI by `python -m socspec_cli.docgen --write`; `socspec COMMAND --help` "
           "prints the same.",
           ""]
    for name in group.list_commands(ctx):
        cmd = group.get_command(ctx, name)
        if cmd is None or getattr(cmd, "hidden", False):
            continue
        sub = cmd.context_class(cmd, info_name=name, parent=ctx)
        usage = " ".join(["socspec", name, "[OPTIONS]", *(_usage(p) for p in cmd.get_params(sub)
                                                          if p.param_type_name == "argument")])
        out += [f"### `socspec {name}`", "", _cell(cmd.help or cmd.short_help or ""), "", "```", usage, "```", ""]
        rows = [r for r in (_param_row(sub, p) for p in cmd.get_params(sub)) if r]
        if rows:
            out += ["| argument / option | what |", "|---|---|", *rows, ""]
    return "\n".join(out).rstrip() + "\n"


def splice(readme_text: str, section: str) -> str:
    """``readme_text`` with the part between the markers replaced by ``section``."""
    if START not in readme_text or END not in readme_text:
        raise ValueError(f"README.md lacks the markers {START} … {END}")
    head, rest = readme_text.split(START, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{START}\n{section}{END}{tail}"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    mode = ap.add_mutually_exclusive_group(required=True)
    mode.add_argument("--check", action="store_true", help="exit 1 when README.md differs from the CLI")
    mode.add_argument("--write", action="store_true", help="rewrite the command reference in README.md")
    ap.add_argument("--readme", type=Path, default=README)
    args = ap.parse_args(argv)
    text = args.readme.read_text(encoding="utf-8")
    new = splice(text, render())
    if args.write:
        if new != text:
            args.readme.write_text(new, encoding="utf-8")
            print(f"updated the command reference in {args.readme}")
        else:
            print(f"{args.readme} is up to date")
        return 0
    if new != text:
        print(f"{args.readme}: the command reference differs from the CLI; run "
              "`python -m socspec_cli.docgen --write`", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
