"""Results of a run: the trials table (one row per trajectory) and the traces."""
from __future__ import annotations

import csv
import io
import math

import numpy as np

from .layout import DIVERGED, ITERATE_CHANNELS, STATUS_NAMES
from .plan import Plan, config_starts


class Table:
    """A small column table: ``table["col"]`` is a numpy array, one entry per row."""

    def __init__(self, columns: dict):
        self.columns = {k: np.asarray(v) for k, v in columns.items()}
        lengths = {len(v) for v in self.columns.values()}
        if len(lengths) > 1:
            raise ValueError(f"Table: columns differ in length {sorted(lengths)}")
        self._n = lengths.pop() if lengths else 0

    def __len__(self):
        return self._n

    def __getitem__(self, name):
        if name not in self.columns:
            raise KeyError(f"no column {name!r}; columns: {', '.join(self.columns)}")
        return self.columns[name]

    def __contains__(self, name):
        return name in self.columns

    @property
    def names(self) -> list[str]:
        return list(self.columns)

    def rows(self) -> list[dict]:
        return [{k: _scalar(v[i]) for k, v in self.columns.items()} for i in range(self._n)]

    def where(self, mask) -> "Table":
        mask = np.asarray(mask)
        return Table({k: v[mask] for k, v in self.columns.items()})

    def to_csv(self, path=None) -> str:
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(self.names)
        for row in self.rows():
            writer.writerow([_fmt(v) for v in row.values()])
        text = buf.getvalue()
        if path is not None:
            with open(path, "w", encoding="utf-8") as fh:
                fh.write(text)
        return text

    def to_pandas(self):
        import pandas as pd  # optional

        return pd.DataFrame(self.columns)

    def __repr__(self):
        head = self.rows()[:5]
        return f"Table({self._n} rows, columns={self.names}){' first: ' + str(head[0]) if head else ''}"


def _scalar(v):
    return v.item() if isinstance(v, np.generic) else v


def _fmt(v):
    if isinstance(v, float):
        return "" if math.isnan(v) else repr(v)
    return v


class Results:
    """A run's results. ``trials`` has one row per trajectory, in plan order; ``trace(name)``
    has one row per trajectory and one column per recorded step (``steps``)."""

    def __init__(self, plan: Plan, arrays: dict, manifest: dict | None = None, path=None):
        self.plan = plan
        self.arrays = arrays
        self.manifest = manifest or {}
        self.path = path
        self.steps = plan.record_steps
        self.trials = build_trials(plan, arrays)

    def __len__(self):
        return self.plan.n_trials

    @property
    def questions(self) -> list[dict]:
        """The study questions the run was given (``run(questions=...)``, a suite's
        ``[[questions]]``), answered by ``optbench.analysis.questions`` and the report."""
        return self.manifest.get("questions", [])

    @property
    def recorded(self) -> list[str]:
        return [name for name in self.plan.record if name in self.arrays]

    def trace(self, name: str) -> np.ndarray:
        if name not in self.arrays or name.startswith("final_") or name.startswith("status"):
            raise KeyError(f"trace {name!r} was not recorded; recorded: {', '.join(self.recorded)}")
        return self.arrays[name]

    def status(self) -> np.ndarray:
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

    def __repr__(self):
        return (f"Results({self.plan.n_trials} trajectories, {self.plan.steps} steps, "
                f"traces={self.recorded})")


def _flatten(prefix: str, params: dict) -> dict:
    out = {}
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


def build_trials(plan: Plan, arrays: dict) -> Table:
    """The trials table from the plan (identifiers, hyper-parameters) and the run's arrays.

    Configuration columns are computed once per (problem, optimizer, schedule) and repeated
    over seeds, so the table builds in milliseconds for tens of thousands of trajectories.
    """
    starts = config_starts(plan.trial_ids[:, :3])
    config_id = np.cumsum(starts) - 1
    rows = [_config_row(plan, *map(int, plan.trial_ids[j, :3])) for j in np.flatnonzero(starts)]
    names: list = []
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
    return Table(columns)


def _config_row(plan: Plan, p: int, o: int, s: int) -> dict:
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


def _column(values: list) -> np.ndarray:
    """A typed column: int64 or float64 (None -> NaN) for numbers, strings otherwise."""
    present = [v for v in values if v is not None]
    if present and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in present):
        if len(present) == len(values) and all(isinstance(v, int) for v in present):
            return np.array(values, dtype=np.int64)
        return np.array([np.nan if v is None else v for v in values], dtype=np.float64)
    return np.array(["" if v is None else str(v) for v in values], dtype=object)
