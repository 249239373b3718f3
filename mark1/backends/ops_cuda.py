"""The `cuda` backend: CuPy arrays on an NVIDIA GPU, numba.cuda and CuPy RawKernel kernels (kernels/cuda/).

Options: `m1.use("cuda", matmul="raw" | "numba")` picks the float32 GEMM (and the dense layer's fused GEMM):
"raw" is the CuPy RawKernel in sgemm.cu (default on a GPU), "numba" the numba.cuda register-tiled kernel.
float64 always uses the numba.cuda kernels. Every other op is a numba.cuda kernel.

Under NUMBA_ENABLE_CUDASIM=1 (set before numba is imported) the backend runs on NumPy arrays and every op
goes through the numba.cuda kernels in numba's simulator: slow, but it runs the real kernel code, so CI
without a GPU tests it. The RawKernel path needs a real GPU and is refused there.
"""

from __future__ import annotations

import numpy as np

from mark1.backends.base import Backend

NAME = "cuda"
NEEDS = "an NVIDIA GPU + driver, and `pip install 'mark1[cuda]'` (CuPy, numba-cuda)"
MATMUL_CHOICES = ("raw", "numba")


def simulator() -> bool:
    """True when numba.cuda runs in its simulator (NUMBA_ENABLE_CUDASIM=1 before numba was imported)."""
    from numba import config

    return bool(config.ENABLE_CUDASIM)


def gpu_unavailable_reason() -> str | None:
    """Why no CUDA device can be used here (no CuPy, no driver, no device), or None."""
    try:
        import cupy
    except ImportError:
        return "CuPy is not installed (pip install 'mark1[cuda]')"
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as e:  # CUDARuntimeError: cudaErrorInsufficientDriver / NoDevice
        return f"no usable CUDA driver: {e}"
    if count == 0:
        return "no CUDA device visible"
    return None


def _numba_cuda_reason() -> str | None:
    try:
        from numba import cuda  # noqa: F401
    except Exception as e:  # numba without numba-cuda, or a broken CUDA toolkit binding
        return f"numba.cuda is not importable ({e}); pip install 'numba-cuda[cu13]'"
    return None


def unavailable_reason() -> str | None:
    if simulator():
        return _numba_cuda_reason()
    return gpu_unavailable_reason() or _numba_cuda_reason()


# The simulator's block manager polls its threads for syncthreads() while they compete for the GIL: with
# Python's default 5 ms switch interval every barrier costs several milliseconds. 0.2 ms makes simulated
# kernels with barriers (GEMM, softmax) 3-6x faster; it only changes how often Python switches threads.
SIMULATOR_SWITCH_INTERVAL_S = 2e-4


def _shorten_switch_interval() -> None:
    import sys

    sys.setswitchinterval(min(sys.getswitchinterval(), SIMULATOR_SWITCH_INTERVAL_S))


def _lock_simulator_shared_arrays() -> None:
    """Make the simulator's cuda.shared.array allocation atomic (numba-cuda 0.30's is not).

    FakeCUDAShared.array looks the array up by source line and inserts a new np.empty when it is missing:
    an unlocked check-then-insert. When the GIL switches threads between the two, two threads of one block
    each insert their own array; they then write and sync on different buffers, and a tree reduction adds
    slots nobody wrote (np.empty garbage: a loss of 8.8e4 instead of 0.12). The short switch interval above
    makes such a switch likelier. A real GPU has one shared array per block, so the lock only restores the
    semantics the kernels are written for; it is applied once, in simulator mode only.
    """
    import sys
    import threading

    from numba.cuda.simulator import kernelapi

    unlocked = kernelapi.FakeCUDAShared.array
    if getattr(unlocked, "mark1_locked", False):
        return
    lock = threading.Lock()

    def array(self, shape, dtype, alignment=None):
        if shape == 0 or alignment is not None or not hasattr(self, "_allocations"):
            return unlocked(self, shape, dtype, alignment)   # dynamic shared memory: one buffer, no race
        caller = sys._getframe(1)   # the kernel line, the same key numba's version takes from the stack
        key = (caller.f_code.co_filename, caller.f_lineno)
        if isinstance(dtype, kernelapi.types.Type):
            dtype = kernelapi.numpy_support.as_dtype(dtype)
        with lock:
            found = self._allocations.get(key)
            if found is None:
                found = self._allocations[key] = np.empty(shape, dtype)
        return found

    array.mark1_locked = True
    kernelapi.FakeCUDAShared.array = array


def create(matmul: str | None = None) -> Backend:
    """The cuda Backend; matmul picks the float32 GEMM ("raw" default on a GPU, "numba" in the simulator)."""
    sim = simulator()
    if matmul is None:
        matmul = "numba" if sim else "raw"
    if matmul not in MATMUL_CHOICES:
        raise ValueError(f"cuda backend: matmul={matmul!r}; valid choices are {', '.join(map(repr, MATMUL_CHOICES))}")
    if sim and matmul == "raw":
        raise ValueError("cuda backend: matmul='raw' (CuPy RawKernel) needs a real GPU; the simulator runs 'numba'")
    from mark1.backends.cuda_launch import CudaOps

    if sim:
        _shorten_switch_interval()
        _lock_simulator_shared_arrays()
        xp, device, ndimage = np, "CUDA simulator (numba.cuda on NumPy arrays)", "scipy.ndimage"
        asarray = lambda x, dtype: np.asarray(x, dtype=dtype)
        to_numpy, sync = np.asarray, lambda: None
    else:
        import cupy

        dev = cupy.cuda.Device()
        name = cupy.cuda.runtime.getDeviceProperties(dev.id)["name"].decode()
        xp, device, ndimage = cupy, f"cuda:{dev.id} {name}", "cupyx.scipy.ndimage"
        asarray = lambda x, dtype: cupy.asarray(x, dtype=dtype)
        to_numpy, sync = cupy.asnumpy, lambda: cupy.cuda.Device().synchronize()
    ops = CudaOps(xp, raw_matmul=matmul == "raw", simulator=sim)
    return Backend(
        name=NAME,
        xp=xp,
        device=device,
        array_types=(xp.ndarray,),
        ops=ops.table(),
        asarray=asarray,
        to_numpy=to_numpy,
        synchronize=sync,
        ndimage_module=ndimage,
        options={"matmul": matmul},
    )
