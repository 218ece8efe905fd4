"""Suite files (TOML): a run's settings and the grids of problems, optimizers and schedules.

    name = "smoke"
    description = "..."
    [run]                       # keyword arguments of optbench.run
    steps = 200
    seeds = 3                   # a count, or a list of seeds
    extend_lr_grid = 3          # optional: widen lr grids whose best is on an edge (<= 3
                                # points a side; analysis.tuning.extension_stage)
    [[problems]]
    type = "Quadratic"
    kappa = [10.0, 100.0]       # a list expands into one spec per value
    [[optimizers]]
    type = "Adam"
    lr = [1e-3, 1e-2]
    betas = [0.9, 0.999]        # a list-valued parameter (betas, milestones, values) takes
                                # one list; a list of lists expands into a grid of them
    [[schedules]]
    type = "CosineAnnealingLR"
    T_max = "steps"             # relative to the run length
    [[questions]]               # a paired question for the report (analysis.questions)
    optimizer = "Adam"
    factor = "betas"
    levels = [[0.9, 0.999], [0.9, 0.99]]

Lists expand into the Cartesian product within each table. Every error names the file, the
table and the key.
"""
from __future__ import annotations

import itertools
import sys
from pathlib import Path

from .paths import safe_name
from .spec import Registry, suggest

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

TOP_KEYS = ("name", "description", "run", "problems", "optimizers", "schedules", "questions")
RUN_KEYS = ("steps", "seeds", "record", "record_every", "record_points", "dtype", "target",
            "blowup", "shard_size", "x0", "extend_lr_grid")


def read_suite(path) -> dict:
    """Parse and validate a suite file; returns ``optbench.run`` keyword arguments."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ValueError(f"suite file {str(path)!r} not found") from None
    except OSError as exc:
        raise ValueError(f"cannot read suite file {str(path)!r}: {exc.strerror}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{path}: invalid TOML: {exc}") from None
    folder = str(path.resolve().parent)  # plugins named module:object import from here too
    if folder not in sys.path:
        sys.path.append(folder)
    return parse_suite(data, where=f"{path}: ", default_name=path.stem)


def parse_suite(data: dict, where: str = "", default_name: str = "run") -> dict:
    from . import optimizers, problems, schedules

    for key in data:
        if key not in TOP_KEYS:
            raise ValueError(f"{where}unknown top-level key {key!r}{suggest(key, TOP_KEYS)}")
    run = data.get("run", {})
    if not isinstance(run, dict):
        raise ValueError(f"{where}[run] must be a table")
    for key in run:
        if key not in RUN_KEYS:
            raise ValueError(f"{where}[run]: unknown key {key!r}{suggest(key, RUN_KEYS)}")
    name = data.get("name", default_name)
    safe_name(name, f"{where}name")
    kwargs = dict(run)
    kwargs["name"] = name
    kwargs["problems"] = _specs(data, "problems", problems.REGISTRY, where, required=True)
    kwargs["optimizers"] = _specs(data, "optimizers", optimizers.REGISTRY, where, required=True)
    kwargs["schedules"] = _specs(data, "schedules", schedules.REGISTRY, where, required=False) or None
    if "questions" in data:
        from .analysis.questions import parse_questions

        kwargs["questions"] = parse_questions(data["questions"], where)
    return kwargs


def _specs(data, section, registry: Registry, where, required):
    tables = data.get(section)
    if tables is None:
        if required:
            raise ValueError(f"{where}at least one [[{section}]] table is needed")
        return []
    if not isinstance(tables, list) or not all(isinstance(t, dict) for t in tables):
        raise ValueError(f"{where}{section} must be an array of tables ([[{section}]])")
    specs = []
    for number, table in enumerate(tables, start=1):
        here = f"{where}[[{section}]] #{number}: "
        if "type" not in table:
            raise ValueError(f"{here}missing key 'type' (one of {', '.join(registry)})")
        try:
            cls = registry.lookup(table["type"])
        except ValueError as exc:
            raise ValueError(f"{here}{exc}") from None
        for combo in expand(cls, {k: v for k, v in table.items() if k != "type"}):
            specs.append(cls.from_dict(combo, where=here))
    return specs


def expand(cls, params: dict) -> list[dict]:
    """The Cartesian product over list-valued parameters (see the module docstring)."""
    sequence = cls.sequence_params()
    axes = []
    for key, value in params.items():
        if isinstance(value, list) and value and not all(isinstance(v, dict) for v in value):
            is_grid = all(isinstance(v, list) for v in value) if key in sequence else True
            axes.append([(key, v) for v in value] if is_grid else [(key, value)])
        else:
            axes.append([(key, value)])
    return [dict(combo) for combo in itertools.product(*axes)]
