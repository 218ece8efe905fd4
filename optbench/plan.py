"""The plan: a grid of specs expanded into one row per trajectory, split into shards.

A ``Plan`` is pure data (no kernels): the run configuration, its canonical dict and hash,
the trial rows in grid order (problem x optimizer x schedule x seed), then the rows of each
lr-grid extension stage (``extension``: added lr points of single (problem, optimizer,
schedule) groups, every seed), the record steps and the shard boundaries. The store writes
it into the manifest; ``load`` rebuilds it from there.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

from . import optimizers as opt_mod
from . import problems as prob_mod
from . import schedules as sched_mod
from .layout import CHANNELS
from .paths import safe_name
from .spec import Spec, choice, integer, is_builtin, real

RECORDABLE = CHANNELS + ("x",)
DEFAULT_RECORD = ("loss", "lr", "grad_norm", "suboptimality", "dist_to_opt")
DTYPES = ("float64", "float32")


def record_steps(n_steps: int, record_every=1, record_points: int = 200) -> np.ndarray:
    """Steps at which traces are stored: every k-th step or log-spaced, always 0 and n_steps."""
    if record_every == "log":
        pts = np.unique(np.round(np.logspace(0, np.log10(max(n_steps, 1)), record_points)))
        steps = np.concatenate([[0], pts]).astype(np.int64)
        return np.unique(np.clip(steps, 0, n_steps))
    steps = np.arange(0, n_steps + 1, record_every, dtype=np.int64)
    if steps[-1] != n_steps:
        steps = np.append(steps, n_steps)
    return steps


def config_starts(config: np.ndarray) -> np.ndarray:
    """Where a run of one configuration begins in ``config`` (rows: problem, optimizer,
    schedule). Grid order puts all seeds of a configuration together, so each run is the
    whole configuration."""
    starts = np.ones(config.shape[0], dtype=bool)
    starts[1:] = np.any(config[1:] != config[:-1], axis=1)
    return starts


class Trial(NamedTuple):
    """One trajectory: indices into the plan's spec lists, and a seed."""

    problem: int
    optimizer: int
    schedule: int  # -1: constant lr
    seed: int


class Trials(Sequence):
    """The trials of an (n, 4) id array (``Plan.trial_ids``) as ``Trial`` tuples, made on
    access: built up front they cost 2 us a trajectory (0.2 s of a 10^5-trajectory run whose
    kernel took 0.09 s), and the engine reads one a block."""

    __slots__ = ("ids",)

    def __init__(self, ids: np.ndarray):
        self.ids = ids

    def __len__(self) -> int:
        return self.ids.shape[0]

    def __getitem__(self, index):
        rows = self.ids[index].tolist()
        return [Trial._make(row) for row in rows] if isinstance(index, slice) else \
            Trial._make(rows)

    def __iter__(self):
        return map(Trial._make, self.ids.tolist())

    def __eq__(self, other) -> bool:
        return isinstance(other, Sequence) and list(self) == list(other)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Trials({len(self)})"


#: the name of a run given none (an API run): its report is named after its date instead
DEFAULT_NAME = "run"


@dataclass
class Plan:
    # given as a spec or a sequence (seeds: a count or a sequence, x0: array-like), each is
    # a list (record: a tuple, x0: an array) after __post_init__
    problems: Any
    optimizers: Any
    schedules: Any  # may be empty: constant lr
    seeds: Any
    steps: int
    record: Any = DEFAULT_RECORD
    record_every: object = 1
    record_points: int = 200
    dtype: str = "float64"
    target: float | None = None
    blowup: float = 1e10
    shard_size: int = 4096
    x0: Any = None  # explicit start points: (d,) or (n_trials, d)
    name: str = DEFAULT_NAME
    #: bound of the automatic lr-grid extension: at most this many lr points added beyond
    #: each edge of each (problem, optimizer family, schedule) group (0: off); see
    #: ``analysis.tuning.extension_stage``
    extend_lr_grid: int = 0
    #: the extension stages added so far, each a list of points {"problem", "schedule",
    #: "optimizer" (index of the grid optimizer varied), "lr"} run on every seed after the grid
    extension: Any = ()
    trials: Trials = field(init=False)
    #: (n_trials, 4) int64: the trials' (problem, optimizer, schedule, seed), for vectorised use
    trial_ids: np.ndarray = field(init=False, repr=False)
    #: optimizers of the grid (the first ones); those after them exist only in the extension
    n_grid_optimizers: int = field(init=False, repr=False)
    #: trial index where the grid (0) and each extension stage begin, then n_trials
    stage_starts: list = field(init=False, repr=False)

    def __post_init__(self):
        self.problems = [_as_spec(p, prob_mod.Problem, "problem") for p in _listify(self.problems)]
        self.optimizers = [_as_spec(o, opt_mod.Optimizer, "optimizer")
                           for o in _listify(self.optimizers)]
        self.schedules = [] if self.schedules is None else [
            _as_spec(s, sched_mod.Schedule, "schedule") for s in _listify(self.schedules)]
        if not self.problems:
            raise ValueError("run: at least one problem is needed")
        for problem in self.problems:
            problem.example_count()  # a user's problem: its minibatch contract, checked here
        if not self.optimizers:
            raise ValueError("run: at least one optimizer is needed")
        self.steps = integer("run", "steps", self.steps, lo=1)
        if isinstance(self.seeds, (int, np.integer)) and not isinstance(self.seeds, bool):
            self.seeds = list(range(integer("run", "seeds", self.seeds, lo=1)))
        else:
            self.seeds = [integer("run", "seeds", s, lo=0) for s in _listify(self.seeds)]
        if not self.seeds:
            raise ValueError("run: seeds must not be empty")
        if len(set(self.seeds)) != len(self.seeds):
            raise ValueError(f"run: seeds must be distinct, got {self.seeds}")
        self.record = tuple(choice("run", "record", r, RECORDABLE) for r in _listify(self.record))
        if self.record_every != "log":
            self.record_every = integer("run", "record_every", self.record_every, lo=1)
        self.record_points = integer("run", "record_points", self.record_points, lo=2)
        self.dtype = choice("run", "dtype", self.dtype, DTYPES)
        if self.target is not None:
            self.target = real("run", "target", self.target)
        self.blowup = real("run", "blowup", self.blowup, lo=0.0, lo_open=True)
        self.shard_size = integer("run", "shard_size", self.shard_size, lo=1)
        self.schedules = [s.bind(self.steps) for s in self.schedules]
        for sched in self.schedules:
            for optimizer in self.optimizers:
                sched.check(optimizer, self.steps)
        # grid order: problem, optimizer, schedule, then seed (seeds of a configuration adjoin)
        shape = (len(self.problems), len(self.optimizers), max(len(self.schedules), 1),
                 len(self.seeds))
        ids = np.indices(shape).reshape(4, -1).T
        ids[:, 3] = np.asarray(self.seeds, dtype=np.int64)[ids[:, 3]]
        if not self.schedules:
            ids[:, 2] = -1
        self.n_grid_optimizers = len(self.optimizers)
        self.extend_lr_grid = integer("run", "extend_lr_grid", self.extend_lr_grid, lo=0)
        if self.extend_lr_grid and len(self.seeds) < 2:
            raise ValueError("run: extend_lr_grid needs at least 2 seeds (the lr is judged on "
                             "tuning seeds held out from the evaluation seeds)")
        self.extension = [[dict(point) for point in stage] for stage in self.extension]
        self.stage_starts = [0, len(ids)]
        for stage in self.extension:
            ids = np.concatenate([ids, self._stage_ids(stage)])
            self.stage_starts.append(len(ids))
        self.trial_ids = ids
        self.trials = Trials(ids)
        safe_name(self.name, "run: name")  # it names run and report directories
        if self.x0 is not None:
            try:
                x0 = np.asarray(self.x0, dtype=np.float64)
            except (TypeError, ValueError):
                raise ValueError(f"run: x0 must be an array of numbers, got {self.x0!r:.60}") \
                    from None
            if not np.isfinite(x0).all():
                raise ValueError("run: x0 must be finite (it holds NaN or inf)")
            self.x0 = self._check_x0(x0)
            if self.extend_lr_grid and self.x0.ndim == 2:
                raise ValueError("run: extend_lr_grid needs one start point x0 of shape (d,) "
                                 "or none (per-trajectory starts cannot follow added lr points)")

    def _stage_ids(self, stage) -> np.ndarray:
        """Trial rows of one extension stage: each point's optimizer (the varied grid
        optimizer with the point's lr, one spec per distinct setting) on every seed."""
        rows = []
        for point in stage:
            try:
                p, s, o, lr = (int(point["problem"]), int(point["schedule"]),
                               int(point["optimizer"]), float(point["lr"]))
            except (KeyError, TypeError, ValueError):
                raise ValueError(f"run: extension: malformed point {point!r}") from None
            if not (0 <= p < len(self.problems) and 0 <= o < self.n_grid_optimizers
                    and -1 <= s < len(self.schedules) and (s >= 0) == bool(self.schedules)):
                raise ValueError(f"run: extension: point {point!r} is outside the grid")
            spec = self.optimizers[o].replace(lr=lr)
            if spec in self.optimizers:
                index = self.optimizers.index(spec)
            else:
                if s >= 0:
                    self.schedules[s].check(spec, self.steps)
                index = len(self.optimizers)
                self.optimizers.append(spec)
            rows += [(p, index, s, seed) for seed in self.seeds]
        return np.array(rows, dtype=np.int64).reshape(-1, 4)

    def with_extension(self, extension) -> "Plan":
        """This plan's grid with the extension stages ``extension`` (a new plan)."""
        return Plan(problems=self.problems, optimizers=self.optimizers[:self.n_grid_optimizers],
                    schedules=self.schedules, seeds=self.seeds, steps=self.steps,
                    record=self.record, record_every=self.record_every,
                    record_points=self.record_points, dtype=self.dtype, target=self.target,
                    blowup=self.blowup, shard_size=self.shard_size, x0=self.x0, name=self.name,
                    extend_lr_grid=self.extend_lr_grid, extension=list(extension))

    def _check_x0(self, x0):
        dims = {p.dim for p in self.problems}
        if x0.ndim == 1:
            if dims != {x0.shape[0]}:
                raise ValueError(f"run: x0 has {x0.shape[0]} entries but the problems have "
                                 f"dimension {sorted(dims)}")
            return x0
        if x0.ndim == 2 and x0.shape[0] == len(self.trials) and dims == {x0.shape[1]}:
            return x0
        raise ValueError(f"run: x0 must have shape (d,) or ({len(self.trials)}, d), "
                         f"got {x0.shape}")

    # ---- derived -----------------------------------------------------------------------
    @property
    def n_trials(self) -> int:
        return len(self.trials)

    def grid_text(self) -> str:
        """How many trajectories and why: "N = P problems x O optimizer settings x S
        schedules x K seeds", plus those of the lr-grid extension when it added some."""
        n_grid = self.stage_starts[1]
        grid = (f"{len(self.problems)} problems x {self.n_grid_optimizers} optimizer settings "
                f"x {max(len(self.schedules), 1)} schedules x {len(self.seeds)} seeds")
        if self.n_trials == n_grid:
            return f"{self.n_trials} = {grid}"
        return (f"{self.n_trials} = {n_grid} ({grid}) + {self.n_trials - n_grid} ("
                f"{sum(map(len, self.extension))} lr points x {len(self.seeds)} seeds added in "
                f"{len(self.extension)} lr-grid extension stages)")

    @property
    def record_steps(self) -> np.ndarray:
        return record_steps(self.steps, self.record_every, self.record_points)

    @property
    def max_dim(self) -> int:
        return max(p.dim for p in self.problems)

    def shards(self) -> list[tuple[int, int]]:
        """[start, stop) trial ranges, each run and stored independently: the grid's, then
        each extension stage's (a shard never spans two stages, so adding a stage leaves
        the shards before it as they are)."""
        return [(a, min(a + self.shard_size, stop))
                for start, stop in zip(self.stage_starts[:-1], self.stage_starts[1:])
                for a in range(start, stop, self.shard_size)]

    def config(self) -> dict:
        """The full expanded configuration: what the hash identifies (``extend_lr_grid`` and
        ``extension`` only when used, so that other runs keep their hashes)."""
        config = {
            "name": self.name,
            "problems": [p.to_dict() for p in self.problems],
            "optimizers": [o.to_dict() for o in self.optimizers[:self.n_grid_optimizers]],
            "schedules": [s.to_dict() for s in self.schedules],
            "seeds": list(self.seeds),
            "steps": self.steps,
            "record": list(self.record),
            "record_every": self.record_every,
            "record_points": self.record_points,
            "dtype": self.dtype,
            "target": self.target,
            "blowup": self.blowup,
            "shard_size": self.shard_size,
            "x0": None if self.x0 is None else self.x0.tolist(),
        }
        if self.extend_lr_grid:
            config["extend_lr_grid"] = self.extend_lr_grid
        if self.extension:
            config["extension"] = [[dict(point) for point in stage] for stage in self.extension]
        return config

    def plugins(self) -> dict:
        """``module:object`` -> record (``optimizers.plugin_record``,
        ``problems.base.plugin_record``, ``schedules.plugin_record``) of each user optimizer,
        problem and schedule class in the plan: what a manifest stores so that reading never
        imports user code."""
        from .problems.base import plugin_record

        out = {type(o).type_name(): opt_mod.plugin_record(type(o)) for o in self.optimizers
               if not is_builtin(type(o))}
        out.update({type(c).type_name(): sched_mod.plugin_record(type(c))
                    for s in self.schedules for c in s._children() if not is_builtin(type(c))})
        for cls in {type(p) for p in self.problems if not is_builtin(type(p))}:
            out[cls.type_name()] = plugin_record(cls, [p for p in self.problems if type(p) is cls])
        return out

    def config_hash(self) -> str:
        text = json.dumps(self.config(), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    @classmethod
    def from_config(cls, config: dict, plugins: dict | None = None,
                    runnable: bool = False) -> "Plan":
        """The plan of a stored configuration. User optimizers, problems and schedules
        (``module:object`` types) become stand-ins built from ``plugins`` (the manifest's
        records), and a FunctionLR's ``fn`` stays a name: their code is never imported. With
        ``runnable`` (a Dask worker) they are imported by name instead, and refused
        (ValueError) unless their source hashes equal the records'."""
        from .problems.base import stored_problem

        def spec(data, base, stand_in):
            name = data["type"]
            if ":" not in name or runnable:
                return base.from_dict(data)
            params = {k: v for k, v in data.items() if k != "type"}
            return stand_in(name, (plugins or {}).get(name, {}))(**params)

        with contextlib.nullcontext() if runnable else sched_mod.reading_back(plugins):
            plan = cls(
                problems=[spec(d, prob_mod.Problem, stored_problem) for d in config["problems"]],
                optimizers=[spec(d, opt_mod.Optimizer, opt_mod.stored_optimizer)
                            for d in config["optimizers"]],
                schedules=[sched_mod.schedule_from_dict(d) for d in config["schedules"]],
                seeds=config["seeds"], steps=config["steps"], record=config["record"],
                record_every=config["record_every"], record_points=config["record_points"],
                dtype=config["dtype"], target=config["target"], blowup=config["blowup"],
                shard_size=config["shard_size"], x0=config["x0"], name=config["name"],
                extend_lr_grid=config.get("extend_lr_grid", 0),
                extension=config.get("extension", ()),
            )
        if runnable:
            check_plugins(plugins or {}, plan.plugins(), "worker")
        return plan


def check_plugins(stored: dict, current: dict, where) -> None:
    """Refuse (ValueError) a user optimizer, problem or schedule whose source differs from the
    one a run recorded: ``--resume`` after an edit, a Dask worker with another version."""
    for name, record in current.items():
        old = stored.get(name, {}).get("source_sha256")
        if old != record["source_sha256"]:
            raise ValueError(f"{where}: plugin {name} changed since this run started (source "
                             f"hash {str(old)[:12]} vs {record['source_sha256'][:12]}, files "
                             f"{', '.join(record['files'])}); nothing was changed")


def _listify(value):
    if isinstance(value, (list, tuple)):
        return list(value)
    if isinstance(value, range):
        return list(value)
    return [value]


def _as_spec(value, base, what):
    if isinstance(value, base):
        return value
    if isinstance(value, type) and issubclass(value, base):
        return value()
    article = "an" if what[0] in "aeiou" else "a"
    if isinstance(value, Spec):
        raise ValueError(f"run: expected {article} {what}, got {type(value).__name__}")
    hint = (f" (a name is looked up in suite files only; pass an instance such as "
            f"{value}())" if isinstance(value, str) else "")
    raise ValueError(f"run: expected {article} {what} spec, got {value!r}{hint}")
