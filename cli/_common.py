"""Shared CLI plumbing: user errors become a one-line message and exit code 2, no traceback."""
from __future__ import annotations

import contextlib
import functools
import re
import sys
import warnings

import typer

from socspec.errors import SocspecInputError

EXIT_USER_ERROR = 2


def fail(message: str, code: int = EXIT_USER_ERROR):
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code)


def _show_warning(message, category, filename, lineno, file=None, line=None):
    """Warnings as one ``warning: …`` line: the user needs the message, not our source line."""
    typer.secho(f"warning: {message}", fg=typer.colors.YELLOW, err=True)


def user_errors(func):
    """Decorate a command so that bad input prints ``error: …`` and exits 2 instead of a traceback;
    Python warnings raised while it runs print as one ``warning: …`` line each (no source lines)."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            with warnings.catch_warnings():
                warnings.showwarning = _show_warning
                return func(*args, **kwargs)
        except SocspecInputError as exc:
            fail(str(exc))
        except FileNotFoundError as exc:
            fail(f"{exc.filename or exc}: file not found")
        except PermissionError as exc:
            fail(f"{exc.filename or exc}: permission denied")
        except IsADirectoryError as exc:
            fail(f"{exc.filename or exc}: is a directory, not a file")
        except KeyboardInterrupt:
            typer.secho("interrupted", err=True)
            raise typer.Exit(130) from None

    return wrapper


def echo(message: str = "") -> None:
    typer.echo(message)


def note(message: str) -> None:
    """Something the user should notice (e.g. 'using SIMULATED data')."""
    typer.secho(message, fg=typer.colors.YELLOW, err=True)


def is_tty() -> bool:
    return sys.stderr.isatty()


@contextlib.contextmanager
def flag_names(**flags: str):
    """Library errors name Python parameters (``n_labels``); inside this block they name the CLI
    flag instead (``flag_names(n_labels="--labels")``), so the user reads the option to change."""
    try:
        yield
    except SocspecInputError as exc:
        msg = str(exc)
        for param, flag in flags.items():
            # a quoted name ('hidden', as scikit-learn's validation writes it) always; a bare one only
            # when it cannot be an ordinary word (test_size, n_labels)
            pattern = rf"'{re.escape(param)}'" + (rf"|\b{re.escape(param)}\b" if "_" in param else "")
            msg = re.sub(pattern, flag, msg)
        raise SocspecInputError(msg) from None


def parse_int_list(values, flag: str) -> list[int]:
    """``--seeds 0,1,2,3`` / ``--seeds "0 1 2 3"`` / ``--seeds 0 --seeds 1`` → [0, 1, 2, 3]. Typer options
    take one value per flag, so a list comes as one comma- or space-separated value (or repeated flags)."""
    out: list[int] = []
    for value in values or []:
        for tok in str(value).replace(",", " ").split():
            try:
                n = int(tok)
            except ValueError:
                raise SocspecInputError(f"{flag}: {tok!r} is not an integer",
                                        hint=f"write {flag} 0,1,2,3") from None
            if n in out:
                raise SocspecInputError(f"{flag}: {n} is given twice", hint=f"write {flag} 0,1,2,3")
            out.append(n)
    if values and not out:
        raise SocspecInputError(f"{flag}: no value given", hint=f"write {flag} 0,1,2,3")
    return out


def carbon_line(detection: dict) -> str:
    """One log line: which carbon column was read, why, its unit and basis (``table.detection``)."""
    col = detection.get("carbon_column")
    if not col:
        return f"carbon: none ({detection.get('carbon_choice') or 'no carbon column'})"
    return (f"carbon: {col!r} — {detection.get('carbon_basis')}, {detection.get('carbon_unit')} "
            f"({detection.get('carbon_unit_source')}); chosen: {detection.get('carbon_choice')}")
