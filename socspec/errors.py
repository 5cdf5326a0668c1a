"""Errors that mean *the user's input is wrong* (as opposed to a bug).

The CLI catches :class:`SocspecInputError` and prints its message without a traceback, exiting
with code 2. Messages name the file, the row (1-based, as a spreadsheet shows it, header = row 1)
and the column, and say what to do.
"""
from __future__ import annotations


class SocspecInputError(ValueError):
    """Bad user input: a file, a column, a value or an option."""

    def __init__(self, message: str, *, path=None, row=None, column=None, hint: str | None = None):
        self.path = None if path is None else str(path)
        self.row = row
        self.column = column
        self.hint = hint
        where = []
        if self.path is not None:
            where.append(self.path)
        if row is not None:
            where.append(f"row {row}")
        if column is not None:
            where.append(f"column {column!r}")
        text = (": ".join([", ".join(where), message]) if where else message)
        if hint:
            text += f" — {hint}"
        super().__init__(text)


class OutputExistsError(SocspecInputError):
    """An output would overwrite something the user already has (use --force)."""
