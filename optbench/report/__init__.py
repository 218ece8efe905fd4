"""Reports of a stored run: figures (PDF, PNG, SVG), tables (LaTeX booktabs, CSV), a
self-contained ``index.html`` and a ``report.md``, each stamped with the toolkit version and the
run's configuration hash.

    from optbench.report import build_report
    build_report("runs/default", out="reports/default")

Data preparation (:mod:`.data`, :mod:`.tables`) is kept apart from drawing (:mod:`.render`):
the ``prepare`` step returns plain figure and table data that can be inspected or tested
without matplotlib.
"""
from .build import ReportContext, build_report, prepare

__all__ = ["build_report", "prepare", "ReportContext"]
