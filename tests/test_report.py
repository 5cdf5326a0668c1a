"""socspec.report: self-contained HTML with embedded PNGs, Markdown twin, table values preserved."""
from __future__ import annotations

import base64
import re

import numpy as np
import pandas as pd
import pytest
from _html_tables import html_tables

from socspec.report import Report, plot_group_mean_spectra, plot_map, plot_scores_by_group

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_report_html_markdown_and_pngs(tmp_path, rng):
    df = pd.DataFrame({"region": ["a", "b"], "n": [3, 4], "frac_flagged": [0.25, 0.5],
                       "risk": ["low", "high"]})
    scores = rng.normal(size=7)
    fig = plot_scores_by_group(scores, ["a"] * 3 + ["b"] * 4, threshold=1.0, reference=rng.normal(size=20))
    rep = Report("OOD <test>").add_text("x < y & z").add_table(df, "risk", float_format="{:.3f}")
    rep.add_figure(fig, "scores_by_region", "scores")
    path = rep.write(tmp_path)
    html = path.read_text()
    assert "OOD &lt;test&gt;" in html and "x &lt; y &amp; z" in html
    m = re.search(r"data:image/png;base64,([A-Za-z0-9+/=]+)", html)
    png = base64.b64decode(m.group(1))
    assert png.startswith(PNG_MAGIC)
    assert (tmp_path / "scores_by_region.png").read_bytes() == png  # same image, file and embedded
    got = html_tables(html)[0]
    assert list(got["region"]) == ["a", "b"]
    np.testing.assert_allclose(got["frac_flagged"].astype(float), [0.25, 0.5])
    assert "class='risk-high'" in html
    md = (tmp_path / "report.md").read_text()
    assert "| a | 3 | 0.250 | low |" in md and "![scores](scores_by_region.png)" in md
    assert not list(tmp_path.glob("*.part")) and not list(tmp_path.glob(".*"))


def test_other_plots_render(tmp_path, rng):
    wl = np.linspace(1100, 2500, 50)
    fig = plot_group_mean_spectra(wl, rng.normal(size=(6, 50)), list("aabbcc"))
    fig2 = plot_map(rng.uniform(-30, -20, 6), rng.uniform(140, 150, 6), rng.normal(size=6),
                    flagged=[1, 0, 0, 1, 0, 0])
    rep = Report("t").add_figure(fig, "resid").add_figure(fig2, "map")
    rep.write(tmp_path, markdown_name=None)
    assert (tmp_path / "resid.png").read_bytes().startswith(PNG_MAGIC)
    assert (tmp_path / "map.png").read_bytes().startswith(PNG_MAGIC)
    assert not (tmp_path / "report.md").exists()


def test_plots_draw_the_data(rng):
    """What each helper draws, read back from the Figure's artists (not from the PNG)."""
    scores = rng.normal(size=7)
    groups = ["b"] * 4 + ["a"] * 3
    ref = rng.normal(size=20)
    ax = plot_scores_by_group(scores, groups, threshold=1.0, reference=ref).axes[0]
    points = [ln for ln in ax.get_lines() if ln.get_marker() == "."]
    # first the held-in reference, then the groups in sorted order
    for ln, want in zip(points, [ref, scores[4:], scores[:4]]):
        np.testing.assert_allclose(np.sort(ln.get_ydata()), np.sort(want))
    assert [t.get_text() for t in ax.get_xticklabels()] == ["held-in", "a", "b"]
    assert any(np.allclose(ln.get_ydata(), 1.0) and ln.get_linestyle() == "--" for ln in ax.get_lines())

    wl = np.linspace(1100, 2500, 50)
    spectra = rng.normal(size=(6, 50))
    ax = plot_group_mean_spectra(wl, spectra, list("aabbcc")).axes[0]
    means = [ln.get_ydata() for ln in ax.get_lines() if ln.get_label().endswith("(n=2)")]
    np.testing.assert_allclose(means, [spectra[i:i + 2].mean(axis=0) for i in (0, 2, 4)])
    # the water bands inside the window are shaded
    from socspec.spectra import WATER_BANDS_NM
    assert len(ax.patches) >= sum(1 for lo, hi in WATER_BANDS_NM if lo < wl[-1] and hi > wl[0])

    lat, lon = rng.uniform(-30, -20, 6), rng.uniform(140, 150, 6)
    ax = plot_map(lat, lon, np.arange(6.0), flagged=[1, 0, 0, 1, 0, 0]).axes[0]
    np.testing.assert_allclose(ax.collections[0].get_offsets(), np.c_[lon, lat])
    np.testing.assert_allclose(ax.collections[0].get_array(), np.arange(6.0))
    np.testing.assert_allclose(ax.collections[1].get_offsets(), np.c_[lon, lat][[0, 3]])


def test_bad_figure_name():
    with pytest.raises(ValueError, match="figure name"):
        Report("t").add_figure(PNG_MAGIC, "../evil")
