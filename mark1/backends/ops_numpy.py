"""The `numpy` backend: the readable reference (kernels/reference.py) on host NumPy arrays."""

from __future__ import annotations

import numpy as np

from mark1.backends.base import Backend
from mark1.hardware import cpu_model

NAME = "numpy"
NEEDS = "numpy (always installed)"


def unavailable_reason() -> str | None:
    return None


def create(**options) -> Backend:
    if options:
        raise TypeError(f"the numpy backend takes no options, got {sorted(options)}")
    from mark1.kernels.reference import OPS
    from mark1.kernels.reference_rbm import OPS as RBM_OPS

    return Backend(
        name=NAME,
        xp=np,
        device=f"cpu: {cpu_model()}",
        array_types=(np.ndarray,),
        ops={**OPS, **RBM_OPS},
        asarray=lambda x, dtype: np.asarray(x, dtype=dtype),
        to_numpy=np.asarray,
    )
