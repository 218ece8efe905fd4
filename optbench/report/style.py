"""Paper-ready style: colour-blind-safe palette, figure sizes, fonts, file metadata.

Colours come from the Okabe-Ito palette (Okabe & Ito 2008, distinguishable under the common
colour-vision deficiencies); past eight series, line styles repeat the colours with dashes, so
a series is still told apart in greyscale print. One ``StyleMap`` is built per report, so an
optimizer keeps the same colour and line style in every figure of it.
"""
from __future__ import annotations

import datetime as _dt
import os

OKABE_ITO = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442",
             "#000000")
#: Okabe-Ito without its yellow, which is too light for thin lines on white
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#000000", "#56B4E9", "#D55E00")
LINESTYLES = ("-", "--", "-.", (0, (5, 1, 1, 1, 1, 1)))
NEUTRAL_COLOR = "#555555"  # series of no optimizer (all trajectories, a bound's legend)
BOUND_STYLE = (0, (1, 1.2))  # dotted, in the optimizer's colour

#: widths in inches: one column of a two-column paper (~89 mm) and a full page width (~183 mm)
ONE_COLUMN = 3.5
TWO_COLUMN = 7.16
FONT_SIZE = 8  # pt at print size: captions of papers are 8-9 pt
PNG_DPI = 150  # figures embedded in index.html: the page stays under ~5 MB

RC = {
    "backend": "Agg",
    "pdf.fonttype": 42,  # TrueType, embedded: selectable text, accepted by publishers
    "ps.fonttype": 42,
    "svg.fonttype": "path",  # SVG shows the same glyphs everywhere, no font needed
    "font.family": "DejaVu Sans",
    "font.size": FONT_SIZE,
    "axes.titlesize": FONT_SIZE + 1,
    "axes.labelsize": FONT_SIZE,
    "xtick.labelsize": FONT_SIZE - 1,
    "ytick.labelsize": FONT_SIZE - 1,
    "legend.fontsize": FONT_SIZE - 1,
    "legend.frameon": False,
    "axes.grid": True,
    "grid.alpha": 0.25,
    "grid.linewidth": 0.5,
    "axes.linewidth": 0.6,
    "lines.linewidth": 1.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "savefig.bbox": "standard",  # "tight" changes sizes from figure to figure
    "image.cmap": "cividis",  # perceptually uniform and colour-vision-deficiency friendly
}


class StyleMap:
    """Series key -> (colour, line style), fixed for a whole report."""

    def __init__(self, keys):
        self.keys = list(dict.fromkeys(keys))
        self._style = {}
        for i, key in enumerate(self.keys):
            self._style[key] = (PALETTE[i % len(PALETTE)],
                                LINESTYLES[(i // len(PALETTE)) % len(LINESTYLES)])

    def color(self, key) -> str:
        return self._style[key][0] if key in self._style else "#777777"

    def linestyle(self, key) -> str:
        return self._style[key][1] if key in self._style else "-"


def figure_size(n_panels: int, ncols: int | None = None, panel_height: float = 2.3,
                legend_rows: int = 0) -> tuple[float, tuple[int, int], float]:
    """(width, (rows, cols), height): one column for a single panel, full width otherwise."""
    if ncols is None:
        ncols = 1 if n_panels == 1 else min(n_panels, 3)
    rows = -(-n_panels // ncols)
    width = ONE_COLUMN if ncols == 1 else TWO_COLUMN
    height = panel_height * rows + 0.16 * legend_rows + 0.25
    return width, (rows, ncols), height


def build_date(manifest: dict) -> _dt.datetime:
    """The date stamped into files: SOURCE_DATE_EPOCH when set, else the run's creation date,
    so two builds of one run give the same bytes."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    if epoch is not None:
        try:
            return _dt.datetime.fromtimestamp(int(epoch), tz=_dt.timezone.utc)
        except ValueError:
            raise ValueError(f"SOURCE_DATE_EPOCH must be an integer, got {epoch!r}") from None
    created = manifest.get("created")
    if created:
        try:
            date = _dt.datetime.fromisoformat(created)
            return date if date.tzinfo else date.replace(tzinfo=_dt.timezone.utc)
        except ValueError:
            pass
    return _dt.datetime(2000, 1, 1, tzinfo=_dt.timezone.utc)
