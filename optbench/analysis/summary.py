"""``analyze(results)``: every analysis of a run in one dict (what ``optbench analyze``
writes as JSON and CSV)."""
from __future__ import annotations

import numpy as np
import pandas as pd

from ._common import default_metric, jsonable
from .rates import rate_table
from .stats import final_value_stats, pairwise_tests, rank_table
from .targets import data_profile, performance_profile, profile_costs, target_table
from .theory import theory_table
from .tuning import _groups, stability_map, tune

PROFILE_TAUS = (1.0, 1.25, 1.5, 2.0, 3.0, 4.0, 6.0, 8.0, 16.0, 32.0, 64.0)
DATA_ALPHAS = (1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1000.0)


def analyze(results, metric: str | None = None, eps=(1e-2, 1e-4, 1e-6), tau: float = 1e-3):
    """All analyses of ``results``: a dict of ``DataFrame``s (rates, theory, final, targets,
    ranks, pairwise, and when the run has an lr grid: tuning, stability) and ``profiles``
    (performance and data profiles from More & Wild's test with tolerance ``tau``).

    ``pairwise`` tests each configuration of a problem against the best one of that problem
    only (``pairwise_tests(against="best")``, what the report shows): m - 1 tests per problem
    of m configurations, where all pairs, m (m - 1) / 2, grew quadratically with the suite
    (about 14 million tests on the full suite). ``pairwise_tests(results)`` still gives all
    pairs. ``findings`` (runs with two or more seeds): ``analysis.findings.findings``."""
    metric = metric or default_metric(results)
    out = {"metric": metric,
           "rates": rate_table(results, metric),
           "theory": theory_table(results),
           "final": final_value_stats(results, metric),
           "targets": target_table(results, eps, metric),
           "ranks": rank_table(results, metric),
           "pairwise": pairwise_tests(results, metric, against="best")}
    pc = profile_costs(results, tau)
    out["profiles"] = {"tau": tau, "problems": pc.problems, "solvers": pc.solvers,
                       "dims": pc.dims, "costs": pc.costs,
                       "performance": {"taus": np.array(PROFILE_TAUS),
                                       "rho": performance_profile(pc.costs, PROFILE_TAUS)},
                       "data": {"alphas": np.array(DATA_ALPHAS),
                                "d": data_profile(pc.costs, pc.dims, DATA_ALPHAS)}}
    groups, _ = _groups(results, ("lr",))
    seeds = set(int(s) for s in results.trials["seed"])
    if any(len(c) > 1 for c in groups.values()):
        out["stability"] = stability_map(results)
        if len(seeds) >= 2:
            out["tuning"] = tune(results, metric=metric)
    if len(seeds) >= 2:  # what the report opens with (held-out seeds, per problem class)
        from .findings import findings

        out["findings"] = findings(results)
    return out


def to_json(analysis: dict) -> dict:
    """JSON-safe form of ``analyze``'s dict (tables as lists of row dicts)."""
    out = {}
    for k, v in analysis.items():
        out[k] = jsonable(v.to_dict("records") if isinstance(v, pd.DataFrame) else v)
    return out
