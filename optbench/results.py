"""Results of a run: the trials table (one row per trajectory) and the traces."""
from __future__ import annotations

import functools
import html
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from .layout import DIVERGED, ITERATE_CHANNELS, STATUS_NAMES
from .plan import Plan, config_starts

if TYPE_CHECKING:
    import xarray


def to_csv(table: pd.DataFrame, path: str | os.PathLike[str] | None = None) -> str:
    """``table`` as optbench writes CSV (trials.csv, analysis tables): a header, no index
    column, ``\\n`` line ends, floats as ``repr`` and NaN as an empty field. Written to
    ``path`` too when given."""
    text = table.to_csv(index=False, lineterminator="\n")
    if path is not None:
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(text)
    return text


class Results:
    """A run's results. ``trials``: a ``pandas.DataFrame``, one row per trajectory in plan
    order (configuration, status, final values; what ``trials.csv`` holds); ``trace(name)``:
    one row per trajectory and one column per recorded step (``steps``); ``to_xarray()``:
    the traces as an ``xarray.Dataset``."""

    def __init__(self, plan: Plan, arrays: Mapping[str, np.ndarray],
                 manifest: dict[str, Any] | None = None,
                 path: str | os.PathLike[str] | None = None) -> None:
        self.plan = plan
        self.arrays = arrays
        self.manifest = manifest or {}
        self.path = path
        self.steps = plan.record_steps

    @functools.cached_property
    def trials(self) -> pd.DataFrame:
        """The trials table, built on first read (a pandas table of some 30 columns takes
        0.4 ms, most of a short run's call besides its kernel)."""
        return build_trials(self.plan, self.arrays)

    def __len__(self) -> int:
        return self.plan.n_trials

    @property
    def questions(self) -> list[dict[str, Any]]:
        """The study questions the run was given (``run(questions=...)``, a suite's
        ``[[questions]]``), answered by ``optbench.analysis.questions`` and the report."""
        return list(self.manifest.get("questions", []))

    @property
    def recorded(self) -> list[str]:
        return [name for name in self.plan.record if name in self.arrays]

    def trace(self, name: str) -> np.ndarray:
        if name not in self.arrays or name.startswith("final_") or name.startswith("status"):
            raise KeyError(f"trace {name!r} was not recorded; recorded: {', '.join(self.recorded)}")
        return self.arrays[name]

    def status(self) -> pd.Series:
        """Status names per trajectory: finished, reached_target or diverged."""
        return self.trials["status"]

    def diverged_everywhere(self) -> list[str]:
        """The configurations (problem, optimizer, schedule) whose every seed diverged, each
        as ``"optimizer on problem [with schedule] (from step k)"``, k the earliest."""
        ids = self.plan.trial_ids[:, :3]
        diverged = np.asarray(self.arrays["status"]) == DIVERGED
        out = []
        for key in np.unique(ids, axis=0):
            rows = np.all(ids == key, axis=1)
            if diverged[rows].all():
                p, o, s = key
                where = f"{self.plan.optimizers[o].label()} on {self.plan.problems[p].label()}"
                if s >= 0:
                    where += f" with {self.plan.schedules[s].label()}"
                step = int(np.min(np.asarray(self.arrays["status_step"])[rows]))
                out.append(f"{where} (from step {step})")
        return out

    def to_xarray(self, traces: list[str] | None = None) -> xarray.Dataset:
        """The recorded traces (all, or those named in ``traces``) as an ``xarray.Dataset``:
        one variable per trace with dims (trajectory, step), ``x`` with (trajectory, step,
        coordinate); coordinates ``step`` (the recorded step numbers) and, per trajectory,
        every configuration column of ``trials`` (problem, optimizer, schedule, seed,
        ``opt.lr``, ...); the outcome columns (status, status_step, ``final_*``) are variables
        over trajectory. Needs xarray: ``pip install optbench[xarray]``."""
        try:
            import xarray as xr
        except ImportError:
            raise ImportError("Results.to_xarray needs xarray: pip install optbench[xarray]"
                              ) from None
        dims = ("trajectory", "step", "coordinate")
        data: dict[str, tuple[tuple[str, ...], np.ndarray]] = {}
        for name in self.recorded if traces is None else traces:
            trace = np.asarray(self.trace(name))
            data[name] = (dims[:trace.ndim], trace)
        tr = self.trials
        outcome = [c for c in tr.columns if c.startswith(("status", "final_"))]
        data.update({c: (("trajectory",), tr[c].to_numpy()) for c in outcome})
        coords: dict[str, Any] = {"trajectory": tr["trial"].to_numpy(),
                                  "step": np.asarray(self.steps)}
        coords.update({c: ("trajectory", tr[c].to_numpy()) for c in tr.columns
                       if c not in outcome and c != "trial"})
        return xr.Dataset(data, coords=coords,
                          attrs={"name": self.plan.name, "config_hash": self.config_hash})

    @property
    def config_hash(self) -> str:
        """The configuration hash (stored with the run; the plan's own when in memory)."""
        return self.manifest.get("config_hash") or self.plan.config_hash()

    def overview(self) -> dict[str, str]:
        """The configuration summary: name, hash, grid, steps, traces, divergences, path."""
        plan = self.plan
        diverged = int(np.sum(np.asarray(self.arrays["status"]) == DIVERGED))
        return {"name": plan.name, "config hash": self.config_hash,
                "trajectories": plan.grid_text(),
                "steps": f"{plan.steps} ({len(self.steps)} recorded)",
                "traces": ", ".join(self.recorded),
                "diverged": f"{diverged} of {plan.n_trials}",
                "path": str(self.path) if self.path is not None else "(in memory)"}

    def __repr__(self) -> str:
        return (f"Results({self.plan.name!r}: {self.plan.n_trials} trajectories, "
                f"{self.plan.steps} steps, traces={self.recorded})")

    def _repr_html_(self) -> str:
        """Notebook view: ``overview()`` and the first rows of ``trials``."""
        rows = "".join(f"<tr><th style=\"text-align:left\">{html.escape(k)}</th>"
                       f"<td style=\"text-align:left\">{html.escape(v)}</td></tr>"
                       for k, v in self.overview().items())
        head = self.trials.head(HTML_ROWS).to_html(index=False, max_cols=HTML_COLUMNS)
        return (f"<div><strong>optbench Results</strong><table>{rows}</table>{head}"
                f"<p>first {min(HTML_ROWS, len(self))} of {len(self)} rows of "
                "<code>.trials</code></p></div>")


#: rows and columns of ``trials`` that ``Results._repr_html_`` shows
HTML_ROWS, HTML_COLUMNS = 5, 12


def _flatten(prefix: str, params: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in params.items():
        if isinstance(v, (list, tuple)):
            if all(isinstance(e, (int, float)) and not isinstance(e, bool) for e in v) and len(v) <= 4:
                for i, e in enumerate(v):
                    out[f"{prefix}{k}.{i}"] = e
            else:
                out[f"{prefix}{k}"] = str(list(v))
        elif isinstance(v, dict):
            out[f"{prefix}{k}"] = str(v)
        else:
            out[f"{prefix}{k}"] = v
    return out


def build_trials(plan: Plan, arrays: Mapping[str, np.ndarray]) -> pd.DataFrame:
    """The trials table from the plan (identifiers, hyper-parameters) and the run's arrays.

    Configuration columns are computed once per (problem, optimizer, schedule) and repeated
    over seeds, so the table builds in milliseconds for tens of thousands of trajectories.
    """
    starts = config_starts(plan.trial_ids[:, :3])
    config_id = np.cumsum(starts) - 1
    rows = [_config_row(plan, *map(int, plan.trial_ids[j, :3])) for j in np.flatnonzero(starts)]
    names: list[str] = []
    for row in rows:
        names.extend(k for k in row if k not in names)
    first = ["problem", "optimizer", "schedule", "problem_type", "optimizer_type",
             "schedule_type"]
    columns = {"trial": np.arange(plan.n_trials, dtype=np.int64)}
    for name in first:
        columns[name] = _column([row.get(name) for row in rows])[config_id]
    columns["seed"] = plan.trial_ids[:, 3].copy()
    for name in names:
        if name not in columns:
            columns[name] = _column([row.get(name) for row in rows])[config_id]
    columns["status"] = np.array(STATUS_NAMES, dtype=object)[arrays["status"]]
    columns["status_step"] = arrays["status_step"]
    for name in ITERATE_CHANNELS:
        if name not in ("lr", "momentum"):
            columns[f"final_{name}"] = arrays[f"final_{name}"]
    return pd.DataFrame(columns)


def _config_row(plan: Plan, p: int, o: int, s: int) -> dict[str, Any]:
    problem = plan.problems[p]
    optimizer = plan.optimizers[o]
    schedule = plan.schedules[s] if s >= 0 else None
    row = {
        "problem": problem.label(),
        "optimizer": optimizer.label(),
        "schedule": schedule.label() if schedule is not None else "constant",
        "problem_type": type(problem).__name__,
        "optimizer_type": type(optimizer).__name__,
        "schedule_type": type(schedule).__name__ if schedule is not None else "constant",
        "dim": problem.dim,
    }
    row.update(_flatten("problem.", problem.params()))
    row.update(_flatten("opt.", optimizer.params()))
    if schedule is not None:
        row.update(_flatten("sched.", schedule.params()))
    return row


def _column(values: list[Any]) -> np.ndarray:
    """A typed column: int64 or float64 (None -> NaN) for numbers, strings otherwise."""
    present = [v for v in values if v is not None]
    if present and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in present):
        if len(present) == len(values) and all(isinstance(v, int) for v in present):
            return np.array(values, dtype=np.int64)
        return np.array([np.nan if v is None else v for v in values], dtype=np.float64)
    return np.array(["" if v is None else str(v) for v in values], dtype=object)
