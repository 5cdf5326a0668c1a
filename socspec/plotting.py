"""Figures without global state: every plot in socspec is a :class:`matplotlib.figure.Figure` with
its own Agg canvas. Nothing here imports ``matplotlib.pyplot`` or switches the backend with ``matplotlib.use``, so a
Jupyter user's backend and pyplot's figure list are left alone (and no figure needs closing).

    fig, ax = subplots(figsize=(6, 4))
    ax.plot(x, y)
    save_png(fig, "out.png")          # atomically
    png = png_bytes(fig)              # for reports that embed the picture
"""
from __future__ import annotations

import io
from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from .outputs import atomic_path

__all__ = ["figure", "subplots", "png_bytes", "save_png", "rotate_xticklabels"]

DPI = 110


def figure(figsize=(6.0, 4.0), **kwargs) -> Figure:
    """A new Figure attached to an Agg canvas (``kwargs`` go to :class:`~matplotlib.figure.Figure`)."""
    fig = Figure(figsize=figsize, **kwargs)
    FigureCanvasAgg(fig)
    return fig


def subplots(nrows: int = 1, ncols: int = 1, *, figsize=(6.0, 4.0), squeeze: bool = True, **kwargs):
    """``(fig, axes)`` like ``pyplot.subplots`` but on a private Agg canvas."""
    fig = figure(figsize=figsize)
    return fig, fig.subplots(nrows, ncols, squeeze=squeeze, **kwargs)


def png_bytes(fig: Figure, dpi: int = DPI, tight: bool = True) -> bytes:
    """The figure as PNG bytes."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight" if tight else None)
    return buf.getvalue()


def save_png(fig: Figure, path, dpi: int = DPI, tight: bool = True) -> Path:
    """Write the figure as a PNG at ``path`` (atomically: a temporary name, renamed when complete)."""
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=dpi, bbox_inches="tight" if tight else None)
    return Path(path)


def rotate_xticklabels(ax, degrees: float = 30.0) -> None:
    """Slant the x tick labels (long group names), right-aligned to their ticks."""
    for label in ax.get_xticklabels():
        label.set_rotation(degrees)
        label.set_horizontalalignment("right")
