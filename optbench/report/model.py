"""Plain data the report is made of: figures as panels of series, tables as rows.

Data preparation (:mod:`optbench.report.data`, :mod:`optbench.report.tables`) builds these
from a run and its analysis; renderers (:mod:`optbench.report.render`, the writers in
:mod:`optbench.report.tables` and :mod:`optbench.report.document`) turn them into files. No
matplotlib object lives here, so the data can be tested, or drawn by another tool.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class Series:
    """One curve. ``key`` picks colour and line style from the report's style map."""

    label: str
    x: np.ndarray
    y: np.ndarray
    key: str | None = None  # style key (optimizer variant); None: neutral colour
    lo: np.ndarray | None = None  # band (e.g. 25th percentile)
    hi: np.ndarray | None = None  # band (e.g. 75th percentile)
    kind: str = "line"  # line | step | bound | path | points
    marker: str | None = None


@dataclass
class Heatmap:
    values: np.ndarray  # (rows, cols), already in the plotted scale
    row_labels: list
    col_labels: list
    text: list  # (rows, cols) cell annotations
    colorbar_label: str = ""
    vmin: float = 0.0  # colour scale start (values below it: its colour)


@dataclass
class Contour:
    x: np.ndarray  # (nx,)
    y: np.ndarray  # (ny,)
    z: np.ndarray  # (ny, nx), plotted as is (levels on a log scale)
    minimizers: np.ndarray  # (k, 2)


@dataclass
class Panel:
    title: str = ""
    xlabel: str = ""
    ylabel: str = ""
    xscale: str = "linear"
    yscale: str = "linear"
    series: list = field(default_factory=list)
    heatmap: Heatmap | None = None
    contour: Contour | None = None
    ylim: tuple | None = None
    note: str = ""  # drawn inside the panel (e.g. "no data")


@dataclass
class FigureData:
    name: str  # file stem under figures/
    title: str
    caption: str
    panels: list
    ncols: int | None = None
    legend: list = field(default_factory=list)  # (key, label) pairs, in order
    legend_extra: list = field(default_factory=list)  # neutral (label, kind): "bound" or "line"
    panel_height: float = 2.3
    width: str | None = None  # "one" or "two" (column layouts); None: from the panel count


@dataclass
class TableData:
    name: str  # file stem under tables/
    title: str
    caption: str
    columns: list  # header names
    rows: list  # list of lists (str/float/int)
    bold: list = field(default_factory=list)  # list of sets of column indices, per row
    formats: dict = field(default_factory=dict)  # column name -> format spec for floats
    notes: str = ""
    hidden: tuple = ("p_holm",)  # columns only in the CSV (not LaTeX, Markdown, HTML)
