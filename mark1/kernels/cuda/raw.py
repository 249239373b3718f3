"""CuPy RawModule kernels from the `.cu` sources in this package: compiled lazily, cached per device.

Only the float32 GEMM lives here (sgemm.cu, with the dense layer's bias + activation epilogue); float64
GEMMs use the numba.cuda kernel. Needs a real GPU: the simulator cannot run CUDA C++.
"""

from __future__ import annotations

from functools import cache
from importlib import resources

import numpy as np

ACT_CODES = {"identity": 0, "sigmoid": 1, "tanh": 2, "relu": 3}
SGEMM_THREADS = 256
SGEMM_TILE = 128  # BM = BN in sgemm.cu


def source(name: str) -> str:
    return resources.files("mark1.kernels.cuda").joinpath(name).read_text()


@cache
def _sgemm_function(device_id: int, a_k_contig: bool, b_n_contig: bool, act: int, has_bias: bool):
    import cupy

    name = f"sgemm<{str(a_k_contig).lower()}, {str(b_n_contig).lower()}, {act}, {str(has_bias).lower()}>"
    with cupy.cuda.Device(device_id):
        module = cupy.RawModule(code=source("sgemm.cu"), options=("-std=c++17",), name_expressions=[name])
        return module.get_function(name)


def _elements(strides: tuple[int, ...], itemsize: int) -> tuple[int, int]:
    return strides[0] // itemsize, strides[1] // itemsize


def _vectorisable(x, contiguous_stride: int, leading_stride: int) -> bool:
    """float4 loads along the contiguous dimension: unit stride, 16-byte aligned base and row starts."""
    return contiguous_stride == 1 and leading_stride % 4 == 0 and x.data.ptr % 16 == 0


def sgemm(a, b, out, bias=None, activation: str = "identity") -> None:
    """out = act(a @ b + bias) for float32 CuPy arrays; a, b any strides, out C-contiguous (M, N)."""
    import cupy

    m, k = a.shape
    n = b.shape[1]
    sa0, sa1 = _elements(a.strides, a.itemsize)
    sb0, sb1 = _elements(b.strides, b.itemsize)
    a_k_contig = not (sa0 == 1 and sa1 != 1)  # the m-contiguous path only for a transposed view
    b_n_contig = not (sb1 != 1 and sb0 == 1)
    vec_a = _vectorisable(a, sa1, sa0) if a_k_contig else _vectorisable(a, sa0, sa1)
    vec_b = _vectorisable(b, sb1, sb0) if b_n_contig else _vectorisable(b, sb0, sb1)
    vec_c = n % 4 == 0 and out.data.ptr % 16 == 0
    fn = _sgemm_function(cupy.cuda.Device().id, a_k_contig, b_n_contig, ACT_CODES[activation], bias is not None)
    grid = (-(-n // SGEMM_TILE), -(-m // SGEMM_TILE))
    args = (a, b, out if bias is None else bias, out, np.int32(m), np.int32(n), np.int32(k),
            np.int64(sa0), np.int64(sa1), np.int64(sb0), np.int64(sb1),
            np.int32(vec_a), np.int32(vec_b), np.int32(vec_c))
    fn(grid, (SGEMM_THREADS,), args)
