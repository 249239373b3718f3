"""Products with a few rows of op(a) and a large B (one sample through a layer): B read once, in place.

The packed GEMM (gemm.py) copies all of op(b) into panels before its first multiply-add, which pays off when
many rows reuse each panel; for one row it is nearly all of the work: 1 x 500 . 500 x 784 took 141-150 us on
two threads, where numpy.matmul (OpenBLAS's GEMV) takes 18-20. Here each row of b, read where it lies, is added
into the output rows it feeds while they stay in L1: out[i] += a[i, k] * b[k] for k in steps of four (a
quarter of the output's loads and stores per multiply-add), columns in spans split across threads. Then
the bias and activation, span by span, as in the GEMM's epilogue.

For op(a) untransformed, b with rows of unit stride and no column sums (dense.gemm checks, and sends the
rest to the packed GEMM).
"""

from __future__ import annotations

from numba import int64, prange

from mark1.kernels.cpu._intrinsics import unit_stride
from mark1.kernels.cpu._jit import cdiv, per_dtype, readonly
from mark1.kernels.cpu.gemm import MR, _epilogue

SPAN = 256  # output columns per parallel task: a 1 KiB float32 row segment per output row, in L1
# Measured on 2 vCPUs (Xeon, AVX-512; us here / packed GEMM / numpy.matmul), rows of a x (K x N):
# 1 x 500x784 18.7 / 150 / 17.9, 4 x 500x784 39.3 / 76.9 / 55.0, 6 x 500x784 52.5 / 76.8 / 83.6, 8 x 500x784
# 75.4 / 76.9 / 59.3; 4 x 784x128 10.6 / 36.5 / 4.8; 6 x 1024x1024 146 / 271 / 268. Half a register tile's
# height of rows, then, and B of 32 Ki elements or more (below, its packing is cheap: 128x64 equal).
MAX_ROWS = MR // 2
MIN_B = 1 << 15
# Threads pay off once B is too big for one core's L2 to feed (the pass is memory-bound): 1 x 500x784 (1.5 MiB)
# 22.8 -> 18.7 us, 1 x 1024x1024 197 -> 117; a B of 400 KiB (784x128) stays faster on one thread, 4.8 vs 10.2.
PARALLEL_B = 1 << 18


def _b_elements(a, b, *rest):
    return b.shape[0] * b.shape[1]


@per_dtype(lambda t: (readonly(t, 2), readonly(t, 2), t[:, ::1], readonly(t, 1), int64), dtype_arg=2,
           parallel=True, work=_b_elements, serial_below=PARALLEL_B)
def few_rows_gemm(a, b, out, bias, act):
    """out = act(a @ b + bias) (bias empty: none) for a (M, K) with M small, b (K, N) with unit-stride rows."""
    rows, depth = a.shape
    cols = b.shape[1]
    for span in prange(cdiv(cols, SPAN)):
        lo = span * SPAN
        width = min(SPAN, cols - lo)
        for i in range(rows):
            acc = out[i, lo:lo + width]
            for j in range(width):
                acc[j] = 0
        k = 0
        while k + 4 <= depth:  # four rows of b per pass over each output row segment
            b0 = unit_stride(b[k, lo:lo + width])
            b1 = unit_stride(b[k + 1, lo:lo + width])
            b2 = unit_stride(b[k + 2, lo:lo + width])
            b3 = unit_stride(b[k + 3, lo:lo + width])
            for i in range(rows):
                a0, a1, a2, a3 = a[i, k], a[i, k + 1], a[i, k + 2], a[i, k + 3]
                acc = out[i, lo:lo + width]
                for j in range(width):
                    acc[j] = (((acc[j] + a0 * b0[j]) + a1 * b1[j]) + a2 * b2[j]) + a3 * b3[j]
            k += 4
        for kk in range(k, depth):
            b0 = unit_stride(b[kk, lo:lo + width])
            for i in range(rows):
                a0 = a[i, kk]
                acc = out[i, lo:lo + width]
                for j in range(width):
                    acc[j] += a0 * b0[j]
        _epilogue(out, 0, lo, rows, width, bias, act)
