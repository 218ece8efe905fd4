"""Matplotlib renderers: FigureData -> PDF, PNG and SVG files (Agg backend, fixed metadata).

Only this module imports matplotlib; every decision about *what* to draw was taken in
:mod:`optbench.report.data`.
"""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from . import style
from .model import FigureData, Panel

FORMATS = ("pdf", "png", "svg")


def _mpl():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return matplotlib, plt


def draw(fig_data: FigureData, styles: style.StyleMap):
    """A matplotlib Figure of the data (the caller saves and closes it)."""
    matplotlib, plt = _mpl()
    from matplotlib.lines import Line2D

    n = len(fig_data.panels)
    legend_items = ([(key, label, None) for key, label in fig_data.legend]
                    + [(None, label, kind) for label, kind in fig_data.legend_extra])
    heat = any(p.heatmap is not None for p in fig_data.panels)
    width, (rows, cols), _ = style.figure_size(n, fig_data.ncols)
    if fig_data.width is not None:
        width = style.ONE_COLUMN if fig_data.width == "one" else style.TWO_COLUMN
    leg_cols = 1 if width == style.ONE_COLUMN else 3
    if legend_items and width == style.ONE_COLUMN and len(legend_items) > 3:
        leg_cols = 2
    if legend_items and width != style.ONE_COLUMN and len(legend_items) > 9:
        leg_cols = 4
    leg_rows = -(-len(legend_items) // leg_cols) if legend_items else 0
    height = fig_data.panel_height * rows + 0.16 * leg_rows + 0.2
    with matplotlib.rc_context({k: v for k, v in style.RC.items() if k != "backend"}):
        fig = plt.figure(figsize=(width, height), layout="constrained")
        fig.get_layout_engine().set(w_pad=0.03, h_pad=0.03, hspace=0.04, wspace=0.03)
        axes = fig.subplots(rows, cols, squeeze=False, sharey="row" if heat else False)
        vmax = 1.0
        if heat:
            for pn in fig_data.panels:
                v = np.asarray(pn.heatmap.values, float)
                if np.isfinite(v).any():
                    vmax = max(vmax, float(np.nanmax(v)))
        image = None
        for i, panel in enumerate(fig_data.panels):
            ax = axes[i // cols][i % cols]
            if panel.heatmap is not None:
                image = _draw_heatmap(ax, panel, first_col=(i % cols == 0), vmax=vmax,
                                      vmin=panel.heatmap.vmin)
            else:
                _draw_panel(ax, panel, styles)
        for j in range(n, rows * cols):
            axes[j // cols][j % cols].set_visible(False)
        if image is not None:
            cb = fig.colorbar(image, ax=axes[:, :].ravel().tolist(), fraction=0.04, pad=0.02,
                              aspect=30)
            cb.ax.tick_params(labelsize=style.FONT_SIZE - 2)
            cb.set_label(fig_data.panels[0].heatmap.colorbar_label, fontsize=style.FONT_SIZE - 1)
        if legend_items:
            handles = []
            for key, label, kind in legend_items:
                if key is None:  # neutral: a theory bound (dotted) or a plain line
                    handles.append(Line2D([], [], color=style.NEUTRAL_COLOR, lw=1.4, label=label,
                                          ls=style.BOUND_STYLE if kind == "bound" else "-"))
                else:
                    handles.append(Line2D([], [], color=styles.color(key),
                                          ls=styles.linestyle(key), lw=1.5, label=label))
            fig.legend(handles=handles, loc="outside upper center", ncol=leg_cols,
                       handlelength=2.2, columnspacing=1.2)
    return fig


def _draw_panel(ax, panel: Panel, styles):
    if panel.contour is not None:
        _draw_contour(ax, panel)
    any_data = False
    points = []
    for s in panel.series:
        color = styles.color(s.key) if s.key is not None else style.NEUTRAL_COLOR
        ls = styles.linestyle(s.key) if s.key is not None else "-"
        x = np.asarray(s.x, dtype=float)
        y = np.asarray(s.y, dtype=float)
        if s.kind == "points":
            points.append((s, color))
        elif s.kind == "path":
            ax.plot(x, y, color=color, ls=ls, lw=1.0, marker=".", ms=2.0, zorder=3)
            ax.plot(x[:1], y[:1], "o", color=color, ms=4, mfc="white", zorder=4)
            any_data = True
        elif s.kind == "bound":
            ax.plot(x, y, color=color, ls=style.BOUND_STYLE, lw=1.4, zorder=2)
        elif s.kind == "step":
            ax.step(x, y, where="post", color=color, ls=ls, lw=1.3)
            any_data = any_data or np.isfinite(y).any()
        else:
            if s.lo is not None and s.hi is not None:
                lo = np.asarray(s.lo, float)
                hi = np.asarray(s.hi, float)
                ok = np.isfinite(lo) & np.isfinite(hi)
                ax.fill_between(x, np.where(ok, lo, np.nan), np.where(ok, hi, np.nan),
                                color=color, alpha=0.15, lw=0)
            ax.plot(x, y, color=color, ls=ls, marker=s.marker, ms=3)
            any_data = any_data or np.isfinite(y).any()
    ax.set_xscale(panel.xscale)
    if panel.yscale == "log" and not any_data:
        panel.note = panel.note or "no positive values to draw"
    else:
        ax.set_yscale(panel.yscale)
    if panel.ylim:
        lo, hi = ax.get_ylim()
        want_lo = panel.ylim[0] if panel.ylim[0] is not None else lo
        want_hi = min(panel.ylim[1], hi) if panel.ylim[1] is not None and panel.yscale == "log" \
            else (panel.ylim[1] if panel.ylim[1] is not None else hi)
        ax.set_ylim(want_lo, want_hi)
    ylim = ax.get_ylim()
    for s, color in points:  # after the limits are final; inf / out of range: at the top
        y = np.asarray(s.y, float)
        y = np.where(np.isfinite(y) & (y <= ylim[1]), y, ylim[1])
        ax.plot(np.asarray(s.x, float), y, ls="none", marker=s.marker or "x", color=color,
                ms=5, mew=1.3, clip_on=False, zorder=5)
    ax.set_ylim(ylim)
    if panel.contour is not None:
        c = panel.contour
        ax.set_xlim(c.x[0], c.x[-1])
        ax.set_ylim(c.y[0], c.y[-1])
    ax.set_xlabel(panel.xlabel)
    ax.set_ylabel(panel.ylabel)
    if panel.title:
        ax.set_title(_wrap(panel.title, 34), fontsize=style.FONT_SIZE)
    if panel.note:
        ax.text(0.5, 0.5, panel.note, transform=ax.transAxes, ha="center", va="center",
                fontsize=style.FONT_SIZE - 1, color="#555555", wrap=True)


def _draw_contour(ax, panel: Panel):
    import matplotlib.colors as mcolors

    c = panel.contour
    z = np.asarray(c.z, float)
    zmin, zmax = np.nanmin(z), np.nanmax(z)
    levels = np.logspace(np.log10(zmin), np.log10(zmax), 16) if zmax > zmin else None
    ax.contourf(c.x, c.y, z, levels=levels, norm=mcolors.LogNorm(), cmap="Greys_r", alpha=0.55)
    ax.contour(c.x, c.y, z, levels=levels, norm=mcolors.LogNorm(), colors="#666666",
               linewidths=0.3)
    if len(c.minimizers):
        m = np.asarray(c.minimizers)
        ax.plot(m[:, 0], m[:, 1], "*", color="black", mfc="white", ms=9, zorder=5)
    ax.grid(False)


def _draw_heatmap(ax, panel: Panel, first_col, vmax, vmin=0.0):
    h = panel.heatmap
    vals = np.ma.masked_invalid(np.asarray(h.values, float))
    ax.grid(False)
    ax.set_facecolor("#dddddd")  # diverged / missing cells
    im = ax.imshow(vals, aspect="auto", cmap="cividis_r", interpolation="nearest", vmin=vmin,
                   vmax=vmax)
    ax.set_xticks(range(len(h.col_labels)))
    if len(h.col_labels) > 6:  # many columns: one rotated line each
        ax.set_xticklabels([_short(c, 34) for c in h.col_labels], fontsize=style.FONT_SIZE - 2,
                           rotation=55, ha="right", rotation_mode="anchor")
    else:
        ax.set_xticklabels([_wrap(c, 18) for c in h.col_labels], fontsize=style.FONT_SIZE - 2)
    ax.set_yticks(range(len(h.row_labels)))
    if first_col:
        ax.set_yticklabels([_short(r, 34) for r in h.row_labels], fontsize=style.FONT_SIZE - 1)
    else:
        ax.tick_params(labelleft=False)
    ax.tick_params(length=0)
    ax.set_title(_wrap(panel.title, 40), fontsize=style.FONT_SIZE - 1)
    for r in range(len(h.row_labels)):
        for c in range(len(h.col_labels)):
            v = h.values[r][c]
            dark = np.isfinite(v) and v > vmin + 0.55 * (vmax - vmin)
            ax.text(c, r, h.text[r][c], ha="center", va="center",
                    fontsize=style.FONT_SIZE - (3 if len(h.col_labels) > 8 else 2),
                    color="white" if dark else "black")
    for side in ("top", "right"):
        ax.spines[side].set_visible(True)
    return im


def _wrap(text: str, width: int) -> str:
    import textwrap

    return "\n".join(textwrap.wrap(text, width, break_long_words=False)) or text


def _short(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 1] + "\u2026"


def metadata(fmt: str, title: str, stamp: dict) -> dict:
    """File metadata for savefig: toolkit version, configuration hash, a fixed date."""
    desc = f"optbench {stamp['version']}; config {stamp['config_hash']}; run {stamp['run']}"
    if fmt == "pdf":
        return {"Title": title, "Author": "optbench", "Subject": desc,
                "Keywords": f"optbench {stamp['version']}, config {stamp['config_hash']}",
                "Creator": f"optbench {stamp['version']}", "CreationDate": stamp["date"],
                "ModDate": stamp["date"]}
    if fmt == "svg":
        return {"Title": title, "Description": desc, "Creator": f"optbench {stamp['version']}",
                "Date": stamp["date"].isoformat(), "Keywords": ["optbench", stamp["config_hash"]]}
    if fmt == "png":
        return {"Title": title, "Description": desc, "Software": f"optbench {stamp['version']}",
                "optbench_version": stamp["version"], "config_hash": stamp["config_hash"]}
    return {}


def save(fig_data: FigureData, styles: style.StyleMap, directory: Path, stamp: dict) -> dict:
    """Draw once, save every format; returns {format: path} and the PNG bytes for the HTML."""
    matplotlib, plt = _mpl()
    fig = draw(fig_data, styles)
    paths = {}
    try:
        with matplotlib.rc_context({"svg.hashsalt": stamp["config_hash"], "pdf.fonttype": 42,
                                    "svg.fonttype": "path"}):
            for fmt in FORMATS:
                path = Path(directory) / f"{fig_data.name}.{fmt}"
                kwargs = {"dpi": style.PNG_DPI} if fmt == "png" else {}
                buf = io.BytesIO()
                fig.savefig(buf, format=fmt, metadata=metadata(fmt, fig_data.title, stamp),
                            **kwargs)
                path.write_bytes(buf.getvalue())
                paths[fmt] = path
                fig.set_layout_engine("none")  # positions are final: skip layout next time
    finally:
        plt.close(fig)
    return paths


def save_cd_diagram(names, ranks, cd, directory: Path, stamp: dict, name="critical_difference",
                    title="Critical difference diagram") -> dict:
    """A critical-difference diagram (Demsar 2006): solvers on an axis of average rank (1 =
    best, left), a bar of length CD, and a thick line under each group of solvers whose
    ranks differ by less than CD (not significantly different by the Nemenyi test). Saves
    PNG, SVG and PDF; returns {format: path}."""
    matplotlib, plt = _mpl()
    r = np.asarray(ranks, float)
    order = np.argsort(r, kind="stable")
    k = len(r)
    half = -(-k // 2)
    height = 0.9 + 0.17 * half
    with matplotlib.rc_context({k_: v for k_, v in style.RC.items() if k_ != "backend"}):
        fig, ax = plt.subplots(figsize=(10.0, height))
        ax.set_xlim(0.5, k + 0.5)
        ax.set_ylim(-(half + 1.2), 1.6)
        ax.axis("off")
        ax.plot([1, k], [0, 0], color="black", lw=1)
        for t in range(1, k + 1):
            ax.plot([t, t], [0, 0.12], color="black", lw=0.8)
            ax.text(t, 0.25, str(t), ha="center", va="bottom", fontsize=style.FONT_SIZE - 1)
        if np.isfinite(cd):
            ax.plot([1, 1 + cd], [1.1, 1.1], color="black", lw=1.5)
            ax.text(1 + cd / 2, 1.2, f"CD = {cd:.2f}", ha="center", va="bottom",
                    fontsize=style.FONT_SIZE - 1)
        for i, j in enumerate(order):
            left = i < half
            y = -(i + 1) * 0.9 if left else -(i - half + 1) * 0.9
            xt = 0.6 if left else k + 0.4
            ax.plot([r[j], r[j], xt], [0, y, y], color="#444444", lw=0.7)
            ax.text(xt, y, f"{_short(names[j], 48)} ({r[j]:.1f})", ha="left" if not left
                    else "right", va="center", fontsize=style.FONT_SIZE - 1,
                    transform=ax.transData, clip_on=False)
        if np.isfinite(cd):  # maximal groups within CD of their leftmost member
            sr = r[order]
            groups, last = [], -1
            for a in range(k):
                b = a
                while b + 1 < k and sr[b + 1] - sr[a] < cd:
                    b += 1
                if b > a and b > last:
                    groups.append((a, b))
                    last = b
            for g, (a, b) in enumerate(groups):
                y = -0.25 - 0.18 * g
                ax.plot([sr[a] - 0.05, sr[b] + 0.05], [y, y], color="black", lw=2.5)
        fig.subplots_adjust(left=0.3, right=0.7, top=0.98, bottom=0.02)
        paths = {}
        try:
            for fmt in FORMATS:
                path = Path(directory) / f"{name}.{fmt}"
                buf = io.BytesIO()
                fig.savefig(buf, format=fmt, metadata=metadata(fmt, title, stamp),
                            **({"dpi": 110} if fmt == "png" else {}))
                path.write_bytes(buf.getvalue())
                paths[fmt] = path
        finally:
            plt.close(fig)
    return paths
