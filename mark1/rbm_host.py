"""Host-side preparation for the RBMs of mark1.nn: data checks, initial weights, Philox seeds and batch orders.

Runs once per call on NumPy arrays (like mark1/data.py for fit), so nothing here is inside a training step.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from mark1.data import check_finite, to_host
from mark1.init import as_generator


def visible_data(x: Any, n_visible: int, where: str, name: str = "X") -> np.ndarray:
    """x as a 2-D host array of n_visible columns with every value in [0, 1] (binary or probabilities).

    A Bernoulli RBM models P(v_i = 1), so anything else is refused, naming the first bad cell.
    """
    arr = to_host(x)
    if arr.dtype.kind not in "fiub":
        raise TypeError(f"{where}: {name} has dtype {arr.dtype}; expected numbers in [0, 1]")
    if arr.ndim != 2 or arr.shape[1] != n_visible:
        raise ValueError(f"{where} got {name} of shape {arr.shape}: expected (n_samples, {n_visible})")
    check_finite(arr, name)
    outside = (arr < 0) | (arr > 1)
    if outside.any():
        row, col = (int(i) for i in np.argwhere(outside)[0])
        raise ValueError(f"{where}: {name}[{row}, {col}] = {arr[row, col]} is outside [0, 1]; a Bernoulli RBM "
                         f"models binary or probability data ({int(outside.sum())} values outside in all)")
    return arr


def positive_int(where: str, name: str, value: Any) -> int:
    if not isinstance(value, int | np.integer) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{where}: {name} must be a positive int, got {value!r}")
    return int(value)


def non_negative(where: str, name: str, value: Any) -> float:
    if not isinstance(value, int | float | np.floating | np.integer) or isinstance(value, bool) \
            or not np.isfinite(value) or value < 0:
        raise ValueError(f"{where}: {name} must be a finite number >= 0, got {value!r}")
    return float(value)


def generator(rng):
    """None stays None (draw from whatever generator m1.seed has set at the time); an int seed or a Generator
    becomes one Generator, to be drawn from again and again."""
    return None if rng is None else as_generator(rng)


def initial_weights(n_visible: int, n_hidden: int, std: float, rng) -> np.ndarray:
    """N(0, std²) weights (Hinton's 2010 guide: std 0.01), float64 on the host."""
    return as_generator(rng).normal(0.0, std, (n_visible, n_hidden))


def new_seed(rng) -> int:
    """A Philox key drawn from `rng` (or the generator m1.seed controls), below 2^63 so it fits an int64."""
    return int(as_generator(rng).integers(0, 2**63 - 1))


def batch_order(n: int, shuffle: bool, rng) -> np.ndarray:
    return (as_generator(rng).permutation(n) if shuffle else np.arange(n)).astype(np.int64)


def monitor_rows(n: int, rows: int | None) -> np.ndarray:
    """Evenly spaced row indices (all of them when rows is None or >= n): a fixed subset for the history."""
    if rows is None or rows >= n:
        return np.arange(n, dtype=np.int64)
    return np.linspace(0, n - 1, rows).round().astype(np.int64)


def counters(seed: int, updates: int) -> np.ndarray:
    return np.array([seed, updates], dtype=np.int64)
