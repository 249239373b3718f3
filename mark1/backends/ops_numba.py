"""The `numba` backend: hand-written @njit kernels (kernels/cpu/) on host NumPy arrays.

Options: `threads=n` sets numba's thread count when the backend is created (the same as
`m1.set_num_threads(n)`; NUMBA_NUM_THREADS caps it). numba keeps that count per calling thread, so set it
in the thread that runs the ops. Kernels compile on first use per dtype (or load from numba's on-disk
cache); products and arrays too small to gain from threads run single-threaded (see kernels/cpu/_jit.py).
"""

from __future__ import annotations

import numpy as np

from mark1.backends.base import Backend
from mark1.hardware import cpu_model

NAME = "numba"
NEEDS = "numba (installed with mark1)"


def unavailable_reason() -> str | None:
    try:
        import numba  # noqa: F401
    except ImportError as e:
        return f"numba is not importable: {e}"
    return None


def create(**options) -> Backend:
    unknown = sorted(set(options) - {"threads"})
    if unknown:
        raise TypeError(f"the numba backend takes only the option 'threads', got {unknown}")
    from mark1.kernels.cpu import OPS
    from mark1.kernels.cpu.rbm import OPS as RBM_OPS
    from mark1.threads import get_num_threads, set_num_threads

    if "threads" in options:
        set_num_threads(int(options["threads"]))
    return Backend(
        name=NAME,
        xp=np,
        device=f"cpu: {cpu_model()} ({get_num_threads()} threads)",
        array_types=(np.ndarray,),
        ops={**OPS, **RBM_OPS},
        asarray=lambda x, dtype: np.asarray(x, dtype=dtype),
        to_numpy=np.asarray,
        options=dict(options),
    )
