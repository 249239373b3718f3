"""CuPy RawModule kernels from the `.cu` sources in this package: compiled lazily, cached per device.

Only the float32 GEMM lives here (sgemm.cu, with the dense layer's bias + activation epilogue); float64
GEMMs use the numba.cuda kernel. Needs a real GPU: the simulator cannot run CUDA C++.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib import resources

import numpy as np

from mark1.kernels.cuda.launch import gemm_grid

ACT_CODES = {"identity": 0, "sigmoid": 1, "tanh": 2, "relu": 3}
SGEMM_THREADS = 256
SGEMM_TILE = 128  # BM = BN in sgemm.cu
SGEMM_DEPTH = 8  # BK in sgemm.cu: split-K slices are multiples of it
MIN_BLOCKS_PER_SM = 1  # sgemm.cu's SGEMM_MIN_BLOCKS; the GPU benchmark also measures 2


def source(name: str) -> str:
    return resources.files("mark1.kernels.cuda").joinpath(name).read_text()


@cache
def _sgemm_function(device_id: int, a_k_contig: bool, b_n_contig: bool, act: int, has_bias: bool,
                    min_blocks: int = MIN_BLOCKS_PER_SM):
    import cupy

    name = f"sgemm<{str(a_k_contig).lower()}, {str(b_n_contig).lower()}, {act}, {str(has_bias).lower()}>"
    options = ("-std=c++17", f"-DSGEMM_MIN_BLOCKS={min_blocks}")
    with cupy.cuda.Device(device_id):
        module = cupy.RawModule(code=source("sgemm.cu"), options=options, name_expressions=[name])
        return module.get_function(name)


def _elements(strides: tuple[int, ...], itemsize: int) -> tuple[int, int]:
    return strides[0] // itemsize, strides[1] // itemsize


def _vectorisable(ptr: int, contiguous_stride: int, leading_stride: int) -> bool:
    """float4 loads along the contiguous dimension: unit stride, 16-byte aligned base and row starts."""
    return contiguous_stride == 1 and leading_stride % 4 == 0 and ptr % 16 == 0


@dataclass(frozen=True)
class SgemmPlan:
    """Template choice and runtime flags for one sgemm launch (pure arithmetic: the host-emulation test uses it)."""

    a_k_contig: bool
    b_n_contig: bool
    vec_a: bool
    vec_b: bool
    vec_c: bool
    grid: tuple[int, int]


def plan(m: int, n: int, sa: tuple[int, int], sb: tuple[int, int], a_ptr: int, b_ptr: int, out_ptr: int) -> SgemmPlan:
    """sa, sb: strides in elements. The m-contiguous (resp. k-contiguous) path is taken only for a transposed view."""
    (sa0, sa1), (sb0, sb1) = sa, sb
    a_k_contig = not (sa0 == 1 and sa1 != 1)
    b_n_contig = not (sb0 == 1 and sb1 != 1)
    vec_a = _vectorisable(a_ptr, sa1, sa0) if a_k_contig else _vectorisable(a_ptr, sa0, sa1)
    vec_b = _vectorisable(b_ptr, sb1, sb0) if b_n_contig else _vectorisable(b_ptr, sb0, sb1)
    vec_c = n % 4 == 0 and out_ptr % 16 == 0
    return SgemmPlan(a_k_contig, b_n_contig, vec_a, vec_b, vec_c, gemm_grid(m, n, SGEMM_TILE, SGEMM_TILE))


def sgemm(a, b, out, bias=None, activation: str = "identity", splits: int = 1, k_split: int | None = None,
          min_blocks: int = MIN_BLOCKS_PER_SM) -> None:
    """out = act(a @ b + bias) for float32 CuPy arrays; a, b any strides, out C-contiguous (M, N).

    With splits > 1 (no bias, identity), out is (splits * M, N): split z's partial product in rows z*M...
    """
    m, k = a.shape
    n = b.shape[1]
    sa, sb = _elements(a.strides, a.itemsize), _elements(b.strides, b.itemsize)
    p = plan(m, n, sa, sb, a.data.ptr, b.data.ptr, out.data.ptr)
    device = out.device  # the arrays' device, which need not be the current one
    fn = _sgemm_function(device.id, p.a_k_contig, p.b_n_contig, ACT_CODES[activation], bias is not None, min_blocks)
    # the bias is read through its own stride: a view such as b[::2] or a matrix column is not contiguous
    bias_stride = 0 if bias is None else bias.strides[0] // bias.itemsize
    args = (a, b, out if bias is None else bias, np.int64(bias_stride), out,
            np.int32(m), np.int32(n), np.int32(k), np.int32(k_split or k),
            np.int64(sa[0]), np.int64(sa[1]), np.int64(sb[0]), np.int64(sb[1]),
            np.int32(p.vec_a), np.int32(p.vec_b), np.int32(p.vec_c))
    with device:  # launched on that device's current stream, like every CuPy operation on these arrays
        fn((*p.grid, splits), (SGEMM_THREADS,), args)
