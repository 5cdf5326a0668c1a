"""Shared CLI plumbing: user errors become a one-line message and exit code 2, no traceback."""
from __future__ import annotations

import functools
import sys

import typer

from socspec.errors import SocspecInputError

EXIT_USER_ERROR = 2


def fail(message: str, code: int = EXIT_USER_ERROR):
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code)


def user_errors(func):
    """Decorate a command so that bad input prints ``error: …`` and exits 2 instead of a traceback."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except SocspecInputError as exc:
            fail(str(exc))
        except FileNotFoundError as exc:
            fail(f"{exc.filename or exc}: file not found")
        except PermissionError as exc:
            fail(f"{exc.filename or exc}: permission denied")
        except KeyboardInterrupt:
            typer.secho("interrupted", err=True)
            raise typer.Exit(130)

    return wrapper


def echo(message: str = "") -> None:
    typer.echo(message)


def note(message: str) -> None:
    """Something the user should notice (e.g. 'using SIMULATED data')."""
    typer.secho(message, fg=typer.colors.YELLOW, err=True)


def is_tty() -> bool:
    return sys.stderr.isatty()
