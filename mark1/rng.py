"""The global random generator behind `m1.seed`: weight init and fit's shuffling draw from it.

Random numbers are drawn on the host with NumPy's PCG64 and then moved, so the same seed gives the same
weights and batch order on every backend.
"""

from __future__ import annotations

import numpy as np

_generator = np.random.default_rng()


def seed(n: int) -> None:
    """Seed weight initialisation and fit's shuffling, on every backend."""
    global _generator
    _generator = np.random.default_rng(n)


def generator() -> np.random.Generator:
    return _generator
