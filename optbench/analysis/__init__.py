"""Analysis of stored results: pure functions of a ``Results`` object (never runs kernels).

Rates (:mod:`.rates`)
    ``linear_rate(values, steps=None)``      contraction factor q of e_t ~ C q^t, with CI:
    the rate, one definition everywhere; ``config_rate(errors, steps)`` the rate of the
    median over seeds; ``decades_per_100_steps(q)`` its display
    ``sublinear_order(values, steps=None)``  order p of e_t ~ C t^-p (log-log fit), with CI
    ``noise_floor(values, steps=None)``      stationary level of stochastic runs
    ``classify(values, steps=None, ...)``    linear / sublinear / plateau / stalled /
    oscillating / diverged
    ``rate_table(results)``, ``trajectory_rates(results)``, ``error_trace(results)``,
    ``config_classes``
Theory (:mod:`.theory`)
    ``theory_checks(results)`` -> [TheoryCheck], ``theory_table(results)``; closed-form
    bounds ``gd_quadratic_rate``, ``heavy_ball_rate``, ``nesterov_rate``, ``sgd_noise_floor``...;
    ``momentum_rate`` (exact rate of heavy ball / Nesterov on a quadratic);
    ``rate_tightness``, ``order_tightness`` (measured / predicted with an interval, verdict);
    ``reddi_average_regret`` (R_T/T on Reddi et al.'s online problem)
Targets and profiles (:mod:`.targets`)
    ``steps_to_target(results, eps)``, ``success_rates``, ``performance_profile(costs, taus)``,
    ``data_profile(costs, dims, alphas)``, ``profile_costs(results, tau)``,
    ``ecdf_steps_to_target(results, targets)``
Statistics (:mod:`.stats`)
    ``convergence_summary(results, metric)``, ``final_value_stats(results)``,
    ``median_iqr``, ``bootstrap_ci``, ``holm``, ``pairwise_tests``, ``average_ranks``,
    ``rank_table``
Scores (:mod:`.scores`)
    ``scores(results)``: gap to f* (or to the best found on multimodal problems), round-off
    floor (solved = tie), steps to target, one rank key; ``select_seeds(results, seeds)``
Findings (:mod:`.findings`)
    ``findings(results)``: per problem class the best optimizer x schedule on held-out seeds,
    tests against the runner-up and baselines, effect sizes, Friedman / Nemenyi across
    problems; ``summary_lines(findings)``
Questions (:mod:`.questions`)
    ``answers(results, questions)``: a study's paired questions ("does bias correction
    matter, and when?") on matched runs, per class and step, with tests and effect sizes
Tuning (:mod:`.tuning`)
    ``tune(results, ...)``, ``split_seeds``, ``lr_sensitivity(results)``,
    ``stability_map(results)``

Metrics: a metric name, or ``"auto"`` (``AUTO``): per problem, suboptimality where its f* is
known, else loss (``problem_metric``). Helpers: ``configs(results)`` (the configurations and
their trials), ``metric_trace``, ``censored_trace`` (diverged = inf from the divergence on),
``final_values``, ``variant_label(spec)`` (an optimizer without its lr).
Everything at once: ``analyze(results)`` (what ``optbench analyze RUN_DIR`` writes).
"""
from .rates import (CLASSES, LinearRate, NoiseFloor, SublinearOrder, classify, config_classes,
                    config_rate, decades_per_100_steps, error_trace, group_rate, linear_rate,
                    noise_floor, rate_table, sublinear_order, trajectory_rates)
from .stats import (Bands, average_ranks, bootstrap_ci, compare_two, convergence_summary,
                    final_value_stats, holm, median_iqr, pairwise_tests, rank_table)
from .summary import analyze, to_json
from ._common import (AUTO, censored_trace, configs, final_values, metric_trace,
                      problem_metric, variant_label)
from .targets import (COCO_TARGETS, ECDF, ProfileCosts, data_profile, ecdf_steps_to_target,
                      first_hit, performance_profile, performance_ratios, profile_costs,
                      runtime_fraction, steps_to_target, success_rates, target_table)
from .theory import (TheoryCheck, Tightness, gd_convex_bound, gd_quadratic_rate,
                     heavy_ball_parameters, heavy_ball_rate, momentum_rate,
                     nesterov_convex_bound, nesterov_parameters, nesterov_rate, order_tightness,
                     rate_tightness, reddi_average_regret, sgd_noise_floor, theory_checks,
                     theory_table)
from .tuning import (extension_stage, grid_edge, lr_extension, lr_sensitivity, split_seeds,
                     stability_map, tune)
from .scores import ROUNDOFF_FACTOR, TARGET_TAU, Scores, roundoff_floor, scores, uses_best_found
from ._common import select_seeds
from .questions import Answer, Contrast, Question, answer, answer_lines, answers, parse_questions

__all__ = [
    "CLASSES", "LinearRate", "NoiseFloor", "SublinearOrder", "classify", "config_classes",
    "config_rate", "decades_per_100_steps", "error_trace", "group_rate", "linear_rate", "noise_floor", "rate_table", "sublinear_order", "trajectory_rates",
    "Bands", "average_ranks", "bootstrap_ci", "compare_two", "convergence_summary",
    "final_value_stats", "holm", "median_iqr", "pairwise_tests", "rank_table",
    "analyze", "to_json",
    "COCO_TARGETS", "ECDF", "ProfileCosts", "data_profile", "ecdf_steps_to_target", "first_hit",
    "performance_profile", "performance_ratios", "profile_costs", "runtime_fraction",
    "steps_to_target", "success_rates", "target_table",
    "TheoryCheck", "gd_convex_bound", "gd_quadratic_rate", "heavy_ball_parameters",
    "heavy_ball_rate", "nesterov_convex_bound", "nesterov_parameters", "nesterov_rate",
    "reddi_average_regret", "sgd_noise_floor", "theory_checks", "theory_table",
    "Tightness", "momentum_rate", "order_tightness", "rate_tightness",
    "extension_stage", "grid_edge", "lr_extension", "lr_sensitivity", "split_seeds",
    "stability_map", "tune",
    "ROUNDOFF_FACTOR", "TARGET_TAU", "Scores", "roundoff_floor", "scores", "uses_best_found",
    "select_seeds",
    "Answer", "Contrast", "Question", "answer", "answer_lines", "answers", "parse_questions",
    "AUTO", "censored_trace", "configs", "final_values", "metric_trace", "problem_metric",
    "variant_label",
]
