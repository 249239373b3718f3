"""CPU thread count for the numba kernels (NUMBA_NUM_THREADS caps it at start-up), and how their threads wait.

Why the waiting matters: numba runs its parallel kernels on OpenMP (GNU libgomp) workers, and libgomp's
default is to keep an idle worker spinning on its core for 300,000 pause instructions (~5 ms: ~15 ns each here) after
each parallel region. On a small machine that spinning thread takes the core from the next library's
threads: measured on 2 vCPUs, `numpy.matmul` (OpenBLAS) 256x784x128 went from 0.16 ms alone to 3.4 ms
right after an `m1.matmul`, and `m1.matmul` from 0.28 ms to 9 ms right after a `numpy.matmul`.
So mark1 starts numba's threads itself, with GOMP_SPINCOUNT=SPIN_COUNT (a few tens of microseconds of
spinning, enough to bridge the gaps between the kernels of one training step, then a sleep), unless the
user has set OMP_WAIT_POLICY or GOMP_SPINCOUNT. The variable is read once, when libgomp is loaded, and
removed from the environment right after, so child processes do not inherit it. NumPy's own settings
(OpenBLAS's thread count and wait) are not touched.

Better still is TBB, which numba supports as a threading layer: its idle workers spin briefly *yielding* the
core, then sleep, so they neither starve OpenBLAS nor pay a sleeping vCPU's wake-up (~100 us under KVM) on the
next call. Measured on the 2-vCPU Xeon (median ms, 2 threads; omp = libgomp with the short spin above):
256x784x128 0.30 (tbb) vs 0.25-0.40 (omp), 256x128x64 0.032 vs 0.083, both within 1.05x of alone when
alternated with numpy.matmul. So where the `tbb` wheel is installed (a dependency on x86-64) and the user chose
no layer (NUMBA_THREADING_LAYER), mark1 picks it; the wheel puts libtbb in <prefix>/lib, on no loader path in a
virtual environment, hence the preload. The choice is process-wide: other numba code in the process uses it too.

The GEMM and the contiguous activations do not use numba's layer at all: they run on mark1's own workers
(kernels/cpu/workers.py), which start a job in ~1 us where a TBB region takes ~6 us to bring in its second
thread; set_num_threads() limits both.
"""

from __future__ import annotations

import os

SPIN_COUNT = "1000"  # libgomp's spin iterations before sleeping: ~15-20 us on this Xeon (pause ~15 ns)
_USER_WAIT_SETTINGS = ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")


def start_numba_threads() -> None:
    """Start numba's thread pool (once per process) with workers that sleep soon after a kernel ends.

    Nothing changes when the pool already runs (the user's own numba code started it first) or when the
    user chose a wait policy through the environment. With torch imported later, torch shares this
    libgomp and so its short spin too (torch imported first keeps its own copy and its own default).
    """
    from numba.np.ufunc import parallel

    if getattr(parallel, "_is_initialized", True):
        return
    if _use_tbb():
        parallel._launch_threads()
        return
    if any(v in os.environ for v in _USER_WAIT_SETTINGS):
        return
    os.environ["GOMP_SPINCOUNT"] = SPIN_COUNT
    try:
        parallel._launch_threads()
    finally:
        del os.environ["GOMP_SPINCOUNT"]


def _use_tbb() -> bool:
    """Select numba's tbb layer when the user left the choice open and libtbb loads (see the module docstring)."""
    import numba

    if "NUMBA_THREADING_LAYER" in os.environ or numba.config.THREADING_LAYER != "default":
        return False
    import ctypes
    import site
    import sys

    for prefix in dict.fromkeys((sys.prefix, sys.base_prefix, site.USER_BASE or "")):
        path = os.path.join(prefix, "lib", "libtbb.so.12")
        if prefix and os.path.exists(path):
            try:
                ctypes.CDLL(path, mode=ctypes.RTLD_GLOBAL)
                from numba.np.ufunc import tbbpool  # noqa: F401  (raises if numba cannot use this libtbb)
            except (OSError, ImportError):
                return False
            numba.config.THREADING_LAYER = "tbb"
            return True
    return False


def set_num_threads(n: int) -> None:
    """Use n threads in the numba backend's parallel kernels (1 <= n <= NUMBA_NUM_THREADS)."""
    import numba

    if not 1 <= n <= numba.config.NUMBA_NUM_THREADS:
        limit = numba.config.NUMBA_NUM_THREADS
        raise ValueError(f"set_num_threads: n={n}; must be in [1, {limit}] (the NUMBA_NUM_THREADS limit)")
    start_numba_threads()
    numba.set_num_threads(n)


def get_num_threads() -> int:
    import numba

    start_numba_threads()
    return numba.get_num_threads()


def kernel_threads() -> int:
    """numba's thread count for the calling thread, for the kernels' per-call decisions.

    numba.get_num_threads() takes two locks (its threading layer's start-up check) before reading the
    count: 0.59 us a call here, a tenth of a 2^16 relu. Once the layer runs, its own C getter (the one
    numba.get_num_threads ends in, thread-local like it) answers in 0.08 us; before that, the full call
    starts the layer.
    """
    getter = _COUNT_GETTER
    return getter() if getter is not None else _first_kernel_threads()


_COUNT_GETTER = None  # numba's C getter of the thread count, once its threading layer runs


def _first_kernel_threads() -> int:
    global _COUNT_GETTER
    from numba.np.ufunc import parallel

    count = get_num_threads()  # starts the layer
    _COUNT_GETTER = getattr(parallel, "_get_num_threads", None) if getattr(parallel, "_is_initialized", False) else None
    return count
