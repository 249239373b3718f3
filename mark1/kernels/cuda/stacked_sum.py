"""out[i] = Σ_k parts[k, i], summed in k order: the second stage of every two-stage sum on the GPU.

The split-K GEMM stacks one partial product per K slice, and the dense backward stacks one partial column
sum of δ per row chunk; adding the stack in a fixed order keeps both deterministic (no atomics).
"""

from __future__ import annotations

from functools import cache

from numba import cuda

from mark1.kernels.cuda.dtypes import numba_type


def build(dtype):
    zero = dtype(0)

    def stacked_sum(parts, out):
        for i in range(cuda.grid(1), out.size, cuda.gridsize(1)):
            s = zero
            for k in range(parts.shape[0]):
                s += parts[k, i]
            out[i] = s

    return stacked_sum


def signature(t: str) -> str:
    return f"void({t}[:, ::1], {t}[::1])"


@cache
def kernel(dtype_name: str):
    return cuda.jit(build(numba_type(dtype_name)))
