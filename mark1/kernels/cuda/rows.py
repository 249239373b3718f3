"""Row kernels, one block per row: softmax, its backward, softmax + cross-entropy, and the final sum.

A block of ROW_THREADS threads strides over the row's columns, then combines its per-thread values with
a shared-memory tree (ROW_THREADS is a power of two). No warp shuffles: the simulator lacks them, and a
tree over 128 values costs little next to the row's loads.
"""

from __future__ import annotations

import math
from functools import cache

from numba import cuda

from mark1.kernels.cuda.dtypes import numba_type
from mark1.kernels.cuda.launch import ROW_THREADS


def _reducers(dtype, threads: int):
    @cuda.jit(device=True)
    def block_sum(buf, t, value):
        """Sum of `value` over the block's threads; every thread gets the result. buf: shared, `threads` long."""
        buf[t] = value
        cuda.syncthreads()  # all values written before the tree reads them
        s = threads // 2
        while s > 0:
            if t < s:
                buf[t] += buf[t + s]
            cuda.syncthreads()  # this level finished before the next one reads it
            s //= 2
        total = buf[0]
        cuda.syncthreads()  # everyone has read buf[0] before buf is reused
        return total

    @cuda.jit(device=True)
    def block_max(buf, t, value):
        buf[t] = value
        cuda.syncthreads()  # all values written before the tree reads them
        s = threads // 2
        while s > 0:
            if t < s and buf[t + s] > buf[t]:
                buf[t] = buf[t + s]
            cuda.syncthreads()  # this level finished before the next one reads it
            s //= 2
        best = buf[0]
        cuda.syncthreads()  # everyone has read buf[0] before buf is reused
        return best

    return block_sum, block_max


@cache
def build(dtype, threads: int = ROW_THREADS) -> dict:
    zero, one = dtype(0), dtype(1)
    lowest, nan = dtype(-math.inf), dtype(math.nan)
    block_sum, block_max = _reducers(dtype, threads)

    def softmax(x, out):
        """out[r] = exp(x[r] - max x[r]) / sum(...): subtracting the max keeps exp() <= 1."""
        r = cuda.blockIdx.x
        t = cuda.threadIdx.x
        buf = cuda.shared.array(threads, dtype)
        cols = x.shape[1]
        m = lowest
        for c in range(t, cols, threads):
            m = max(m, x[r, c])
        m = block_max(buf, t, m)
        s = zero
        for c in range(t, cols, threads):
            s += math.exp(x[r, c] - m)
        s = block_sum(buf, t, s)
        for c in range(t, cols, threads):
            out[r, c] = math.exp(x[r, c] - m) / s

    def softmax_backward(y, dy, out):
        """out[r] = y[r] * (dy[r] - <dy[r], y[r]>)."""
        r = cuda.blockIdx.x
        t = cuda.threadIdx.x
        buf = cuda.shared.array(threads, dtype)
        cols = y.shape[1]
        d = zero
        for c in range(t, cols, threads):
            d += dy[r, c] * y[r, c]
        d = block_sum(buf, t, d)
        for c in range(t, cols, threads):
            out[r, c] = y[r, c] * (dy[r, c] - d)

    def softmax_cross_entropy(z, labels, grad, row_loss, inv_m):
        """grad[r] = (softmax(z[r]) - onehot(label)) / m; row_loss[r] = logsumexp(z[r]) - z[r, label].

        A label outside [0, cols) (only possible with check_labels=False) makes the row's loss and gradient NaN
        instead of reading outside the row. The whole block returns, before any barrier: the label is per row.
        """
        r = cuda.blockIdx.x
        t = cuda.threadIdx.x
        buf = cuda.shared.array(threads, dtype)
        cols = z.shape[1]
        label = labels[r]
        if label < 0 or label >= cols:
            for c in range(t, cols, threads):
                grad[r, c] = nan
            if t == 0:
                row_loss[r] = nan
            return
        m = lowest
        for c in range(t, cols, threads):
            m = max(m, z[r, c])
        m = block_max(buf, t, m)
        s = zero
        for c in range(t, cols, threads):
            s += math.exp(z[r, c] - m)
        s = block_sum(buf, t, s)  # s >= 1 (the max term is exp(0)), so log(s) is finite
        for c in range(t, cols, threads):
            p = math.exp(z[r, c] - m) / s
            grad[r, c] = ((p - one) if c == label else p) * inv_m
        if t == 0:
            row_loss[r] = math.log(s) + m - z[r, label]

    def sum_to_scalar(parts, loss, scale):
        """loss[0] = scale * sum(parts), in one block: the deterministic second stage of every loss."""
        t = cuda.threadIdx.x
        buf = cuda.shared.array(threads, dtype)
        s = zero
        for i in range(t, parts.size, threads):
            s += parts[i]
        s = block_sum(buf, t, s)
        if t == 0:
            loss[0] = s * scale

    return {
        "softmax": softmax,
        "softmax_backward": softmax_backward,
        "softmax_cross_entropy": softmax_cross_entropy,
        "sum_to_scalar": sum_to_scalar,
    }


def signatures(t: str) -> dict[str, str]:
    return {
        "softmax": f"void({t}[:, :], {t}[:, ::1])",
        "softmax_backward": f"void({t}[:, :], {t}[:, :], {t}[:, ::1])",
        "softmax_cross_entropy": f"void({t}[:, :], int64[::1], {t}[:, ::1], {t}[::1], {t})",
        "sum_to_scalar": f"void({t}[::1], {t}[::1], {t})",
    }


@cache
def kernels(dtype_name: str) -> dict:
    return {name: cuda.jit(fn) for name, fn in build(numba_type(dtype_name)).items()}
