"""numba scalar types by NumPy dtype name, for the per-dtype kernel builders."""

from __future__ import annotations

from numba import float32, float64

FLOAT_TYPES = {"float32": float32, "float64": float64}


def numba_type(dtype_name: str):
    try:
        return FLOAT_TYPES[dtype_name]
    except KeyError:
        raise TypeError(f"CUDA kernels take float32 or float64, got {dtype_name}") from None
