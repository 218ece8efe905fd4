"""Data for the data-driven problems: seeded synthetic sets and the shipped real ones.

Synthetic data come from the package's counter-based generator (``kernels.rng``), keyed by
(seed, a fixed tag per use), so an instance is the same on every machine and numpy version.
"""
from __future__ import annotations

import csv
from functools import lru_cache
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from ..kernels import rng

DATA_DIR = Path(__file__).resolve().parent.parent / "data"


def normal(seed: int, tag: int, shape: tuple[int, ...]) -> NDArray[np.float64]:
    """Standard normal array of ``shape`` from stream (seed, tag)."""
    out = np.empty(int(np.prod(shape)))
    rng.fill_normal(np.uint64(rng.stream_key(int(seed), int(tag))), out)
    return out.reshape(shape)


def uniform(seed: int, tag: int, shape: tuple[int, ...]) -> NDArray[np.float64]:
    """Uniform [0, 1) array of ``shape`` from stream (seed, tag)."""
    out = np.empty(int(np.prod(shape)))
    rng.fill_uniform(np.uint64(rng.stream_key(int(seed), int(tag))), out)
    return out.reshape(shape)


def standardize(a: NDArray[np.float64]) -> NDArray[np.float64]:
    """Columns to zero mean and unit (population) standard deviation."""
    sd = a.std(axis=0)
    out: NDArray[np.float64] = (a - a.mean(axis=0)) / np.where(sd > 0, sd, 1.0)
    return out


@lru_cache(maxsize=None)
def wdbc() -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Wisconsin Diagnostic Breast Cancer: (569 x 30 features, labels +1 malignant / -1
    benign). Features as published; see optbench/data/README.md."""
    rows = _read_csv(DATA_DIR / "wdbc.csv")
    labels = np.array([1.0 if r[0] == "M" else -1.0 for r in rows])
    feats = np.array([[float(v) for v in r[1:]] for r in rows])
    return feats, labels


@lru_cache(maxsize=None)
def iris() -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Fisher's Iris: (150 x 4 features, labels 0 setosa, 1 versicolor, 2 virginica)."""
    rows = _read_csv(DATA_DIR / "iris.csv")
    names = {"setosa": 0, "versicolor": 1, "virginica": 2}
    feats = np.array([[float(v) for v in r[:4]] for r in rows])
    labels = np.array([float(names[r[4]]) for r in rows])
    return feats, labels


def _read_csv(path: Path) -> list[list[str]]:
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.reader(fh)
        next(reader)  # header
        return [row for row in reader if row]


def two_spirals(n_per_class: int, turns: float, noise: float,
                seed: int) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Two interleaved spirals in the plane (Lang & Witbrock, 1988): class 0 at
    r (cos t, sin t), class 1 at the point reflection, t = 2 pi turns sqrt(u), r = t/(2 pi
    turns) (so radii in [0, 1]), plus N(0, noise^2) jitter. Returns (2n x 2, labels 0/1)."""
    u = uniform(seed, 0x5917A1, (n_per_class,))
    jitter = normal(seed, 0x5917A2, (2 * n_per_class, 2)) * noise
    t = 2.0 * np.pi * turns * np.sqrt(u)
    r = t / (2.0 * np.pi * turns)
    arm = np.stack([r * np.cos(t), r * np.sin(t)], axis=1)
    pts = np.concatenate([arm, -arm]) + jitter
    labels = np.concatenate([np.zeros(n_per_class), np.ones(n_per_class)])
    order = np.arange(2 * n_per_class).reshape(2, n_per_class).T.ravel()  # interleave
    return pts[order], labels[order]
