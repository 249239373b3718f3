"""The `cuda` backend: CuPy arrays on an NVIDIA GPU, numba.cuda and CuPy RawKernel kernels (kernels/cuda/).

Placeholder until the CUDA kernels land (issue 5): it already tells why it cannot run here.
"""

from __future__ import annotations

NAME = "cuda"
NEEDS = "an NVIDIA GPU + driver, and `pip install 'mark1[cuda]'` (CuPy, numba-cuda)"


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


def unavailable_reason() -> str | None:
    return gpu_unavailable_reason() or "the CUDA kernels are not written yet"


def create(**options):
    raise NotImplementedError
