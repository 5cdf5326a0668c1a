"""Reports: an HTML page (self-contained, PNGs embedded as base64) and a Markdown twin, plus PNG files.

Generic — the lab OOD report and the remote path both build one::

    rep = Report("OOD risk by region")
    rep.add_text("Model: runs/m1 …")
    rep.add_table(df, "Per-region risk", float_format="{:.3g}")
    rep.add_figure(fig, "scores_by_region", "OOD score by region; dashed line = threshold")
    rep.write(out_dir)        # out_dir/index.html, out_dir/report.md, out_dir/scores_by_region.png

Also plot helpers used by reports: :func:`plot_scores_by_group`, :func:`plot_group_mean_spectra`,
:func:`plot_map`.
"""
from __future__ import annotations

import base64
import html
import math
from pathlib import Path

import numpy as np
import pandas as pd

from .outputs import atomic_path, atomic_write
from .plotting import png_bytes, rotate_xticklabels, subplots
from .spectra import WATER_BANDS_NM


def _fmt(v, float_format: str) -> str:
    if isinstance(v, (float, np.floating)):
        if not math.isfinite(float(v)):
            return "" if math.isnan(float(v)) else str(v)
        return float_format.format(float(v))
    return str(v)


class Report:
    """An ordered list of blocks (heading, text, table, figure) rendered to HTML and Markdown."""

    def __init__(self, title: str):
        self.title = title
        self.blocks: list[tuple] = []

    def add_heading(self, text: str, level: int = 2) -> "Report":
        self.blocks.append(("heading", text, int(level)))
        return self

    def add_text(self, text: str) -> "Report":
        """A paragraph (plain text; HTML-escaped)."""
        self.blocks.append(("text", text))
        return self

    def add_table(self, df: pd.DataFrame, caption: str = "", float_format: str = "{:.4g}") -> "Report":
        self.blocks.append(("table", df.copy(), caption, float_format))
        return self

    def add_figure(self, fig, name: str, caption: str = "", dpi: int = 110) -> "Report":
        """``fig``: a matplotlib Figure (rendered to PNG now) or PNG bytes; ``name``: file stem."""
        png = bytes(fig) if isinstance(fig, (bytes, bytearray)) else png_bytes(fig, dpi=dpi)
        if not name.replace("_", "").replace("-", "").isalnum():
            raise ValueError(f"figure name must be alphanumeric/_/-, got {name!r}")
        self.blocks.append(("figure", png, name, caption))
        return self

    # ---------------------------------------------------------------- render
    def to_html(self) -> str:
        parts = [
            "<!DOCTYPE html>", "<html><head><meta charset='utf-8'>",
            f"<title>{html.escape(self.title)}</title>",
            "<style>body{font-family:sans-serif;max-width:1100px;margin:2em auto;}"
            "table{border-collapse:collapse;font-size:0.85em}td,th{border:1px solid #bbb;padding:2px 6px;"
            "text-align:right}th{background:#eee}img{max-width:100%}"
            ".risk-high{background:#f8c0c0}.risk-medium{background:#fbe6a8}.risk-low{background:#d5f0d0}"
            "</style></head><body>",
            f"<h1>{html.escape(self.title)}</h1>",
        ]
        for b in self.blocks:
            if b[0] == "heading":
                parts.append(f"<h{b[2]}>{html.escape(b[1])}</h{b[2]}>")
            elif b[0] == "text":
                parts.append(f"<p>{html.escape(b[1])}</p>")
            elif b[0] == "table":
                df, caption, ff = b[1], b[2], b[3]
                rows = ["<table>"]
                if caption:
                    rows.append(f"<caption>{html.escape(caption)}</caption>")
                rows.append("<tr>" + "".join(f"<th>{html.escape(str(c))}</th>" for c in df.columns) + "</tr>")
                for _, r in df.iterrows():
                    cells = []
                    for c in df.columns:
                        v = r[c]
                        cls = f" class='risk-{v}'" if str(c).endswith("risk") and v in ("low", "medium", "high") else ""
                        cells.append(f"<td{cls}>{html.escape(_fmt(v, ff))}</td>")
                    rows.append("<tr>" + "".join(cells) + "</tr>")
                rows.append("</table>")
                parts.append("\n".join(rows))
            elif b[0] == "figure":
                png, name, caption = b[1], b[2], b[3]
                data = base64.b64encode(png).decode("ascii")
                parts.append(f"<figure><img alt='{html.escape(name)}' src='data:image/png;base64,{data}'>"
                             f"<figcaption>{html.escape(caption)}</figcaption></figure>")
        parts.append("</body></html>")
        return "\n".join(parts)

    def to_markdown(self) -> str:
        out = [f"# {self.title}", ""]
        for b in self.blocks:
            if b[0] == "heading":
                out += ["#" * b[2] + " " + b[1], ""]
            elif b[0] == "text":
                out += [b[1], ""]
            elif b[0] == "table":
                df, caption, ff = b[1], b[2], b[3]
                if caption:
                    out += [f"**{caption}**", ""]
                out.append("| " + " | ".join(str(c) for c in df.columns) + " |")
                out.append("|" + "---|" * len(df.columns))
                for _, r in df.iterrows():
                    out.append("| " + " | ".join(_fmt(r[c], ff) for c in df.columns) + " |")
                out.append("")
            elif b[0] == "figure":
                out += [f"![{b[3] or b[2]}]({b[2]}.png)", ""]
        return "\n".join(out)

    def write(self, out_dir, html_name: str = "index.html", markdown_name: str | None = "report.md") -> Path:
        """Write PNG files, the HTML page and (optionally) the Markdown twin into ``out_dir``
        (each atomically). The caller decides whether ``out_dir`` may be reused
        (:func:`socspec.outputs.prepare_run_dir`). Returns the HTML path."""
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        for b in self.blocks:
            if b[0] == "figure":
                with atomic_path(out_dir / f"{b[2]}.png") as tmp:
                    tmp.write_bytes(b[1])
        if markdown_name:
            with atomic_write(out_dir / markdown_name) as fh:
                fh.write(self.to_markdown())
        with atomic_write(out_dir / html_name) as fh:
            fh.write(self.to_html())
        return out_dir / html_name


# ------------------------------------------------------------------ plot helpers
def plot_scores_by_group(scores, groups, threshold=None, ylabel="OOD score", title="",
                         reference=None, reference_label="held-in"):
    """Box plot + jittered points of ``scores`` per group (sorted), a dashed line at ``threshold``;
    ``reference`` (optional) scores drawn as the first box (e.g. held-in validation scores)."""
    scores = np.asarray(scores, dtype=float)
    groups = np.asarray(pd.Series(groups).astype(str))
    names = sorted(pd.unique(groups))
    data = [scores[groups == g] for g in names]
    labels = list(names)
    if reference is not None:
        data.insert(0, np.asarray(reference, dtype=float))
        labels.insert(0, reference_label)
    data = [d[np.isfinite(d)] for d in data]
    fig, ax = subplots(figsize=(max(5.0, 0.7 * len(labels) + 2), 4))
    ax.boxplot(data, showfliers=False)
    ax.set_xticks(range(1, len(labels) + 1), labels)
    rng = np.random.default_rng(0)
    for i, d in enumerate(data, start=1):
        ax.plot(i + rng.uniform(-0.15, 0.15, d.size), d, ".", alpha=0.4, ms=3,
                color="grey" if (reference is not None and i == 1) else "C0")
    if threshold is not None and np.isfinite(threshold):
        ax.axhline(threshold, ls="--", color="C3", label=f"threshold {threshold:.3g}")
        ax.legend(loc="upper left")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    rotate_xticklabels(ax)
    fig.tight_layout()
    return fig


def plot_group_mean_spectra(wavelength_nm, spectra, groups, ylabel="mean residual R − R̂", title="",
                            zero_line=True, bands_nm=WATER_BANDS_NM):
    """Mean spectrum (e.g. residual) per group with ±1 sd band; ``bands_nm`` ((lo, hi) nm pairs,
    default the water bands) shaded."""
    wl = np.asarray(wavelength_nm, dtype=float)
    spectra = np.asarray(spectra, dtype=float)
    groups = np.asarray(pd.Series(groups).astype(str))
    fig, ax = subplots(figsize=(8, 4))
    for i, g in enumerate(sorted(pd.unique(groups))):
        s = spectra[groups == g]
        mu, sd = np.nanmean(s, axis=0), np.nanstd(s, axis=0)
        ax.plot(wl, mu, color=f"C{i % 10}", label=f"{g} (n={len(s)})")
        ax.fill_between(wl, mu - sd, mu + sd, color=f"C{i % 10}", alpha=0.12, lw=0)
    if zero_line:
        ax.axhline(0, color="k", lw=0.6)
    for lo, hi in bands_nm or ():
        if lo < wl[-1] and hi > wl[0]:
            ax.axvspan(lo, hi, color="tab:blue", alpha=0.08, lw=0)
    ax.set_xlabel("wavelength (nm)")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    return fig


def plot_map(lat, lon, values, title="", cbar_label="", flagged=None):
    """Scatter map (lon, lat in degrees) coloured by ``values``; ``flagged`` points ringed in red."""
    lat = np.asarray(lat, dtype=float)
    lon = np.asarray(lon, dtype=float)
    values = np.asarray(values, dtype=float)
    ok = np.isfinite(lat) & np.isfinite(lon)
    fig, ax = subplots(figsize=(6, 5))
    sc = ax.scatter(lon[ok], lat[ok], c=values[ok], s=12, cmap="viridis")
    fig.colorbar(sc, ax=ax, label=cbar_label)
    if flagged is not None:
        f = np.asarray(flagged, dtype=bool) & ok
        ax.scatter(lon[f], lat[f], s=40, facecolors="none", edgecolors="C3", lw=0.8, label="flagged")
        if f.any():
            ax.legend(loc="best")
    ax.set_xlabel("longitude (°)")
    ax.set_ylabel("latitude (°)")
    ax.set_title(title)
    mid = np.nanmean(lat[ok]) if ok.any() else 0.0
    ax.set_aspect(1.0 / max(np.cos(np.radians(mid)), 0.1))  # equirectangular: degrees of lon shrink
    fig.tight_layout()
    return fig
