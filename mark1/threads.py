"""CPU thread count for the numba kernels (NUMBA_NUM_THREADS caps it at start-up)."""

from __future__ import annotations


def set_num_threads(n: int) -> None:
    """Use n threads in the numba backend's parallel kernels (1 <= n <= NUMBA_NUM_THREADS)."""
    import numba

    if not 1 <= n <= numba.config.NUMBA_NUM_THREADS:
        limit = numba.config.NUMBA_NUM_THREADS
        raise ValueError(f"set_num_threads: n={n}; must be in [1, {limit}] (the NUMBA_NUM_THREADS limit)")
    numba.set_num_threads(n)


def get_num_threads() -> int:
    import numba

    return numba.get_num_threads()
