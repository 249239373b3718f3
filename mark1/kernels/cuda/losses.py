"""Loss kernels (MSE, BCE, BCE-with-logits) and the dense layer's δ + column-sum pass.

Losses are grid-stride loops over flat C-contiguous arrays: each thread writes its gradient elements and
adds up its loss terms, each block reduces those in shared memory into `parts[block]`, and
rows.sum_to_scalar then adds the parts in a fixed order (deterministic, no atomics).
"""

from __future__ import annotations

import math
from functools import cache

from numba import cuda

from mark1.kernels.cuda.activations import device_functions
from mark1.kernels.cuda.dtypes import numba_type
from mark1.kernels.cuda.launch import COL_ROWS, COL_TILE, THREADS

# torch's BCELoss clamps: each log term at -100, the gradient's denominator p(1-p) at 1e-12.
BCE_LOG_FLOOR = -100.0
BCE_GRAD_EPS = 1e-12


@cache
def build(dtype, threads: int = THREADS) -> dict:
    zero, one = dtype(0), dtype(1)
    log_floor, grad_eps = dtype(BCE_LOG_FLOOR), dtype(BCE_GRAD_EPS)
    sigmoid = device_functions(dtype)["sigmoid"][0]

    @cuda.jit(device=True)
    def store_block_sum(buf, value, parts):
        """parts[blockIdx.x] = sum of `value` over the block (buf: shared, `threads` long)."""
        t = cuda.threadIdx.x
        buf[t] = value
        cuda.syncthreads()  # all values written before the tree reads them
        s = threads // 2
        while s > 0:
            if t < s:
                buf[t] += buf[t + s]
            cuda.syncthreads()  # this level finished before the next one reads it
            s //= 2
        if t == 0:
            parts[cuda.blockIdx.x] = buf[0]

    @cuda.jit(device=True)
    def clamped_log(p):
        # log(0) is -inf on a GPU but raises in the simulator: test first, then clamp like torch.
        return max(math.log(p), log_floor) if p > zero else log_floor

    def mse(pred, target, grad, parts, inv_m):
        """grad = (p - t) / m; parts get sum((p - t)^2) (the host-side scale is 1 / 2m)."""
        buf = cuda.shared.array(threads, dtype)
        acc = zero
        for i in range(cuda.grid(1), pred.size, cuda.gridsize(1)):
            d = pred[i] - target[i]
            grad[i] = d * inv_m
            acc += d * d
        store_block_sum(buf, acc, parts)

    def bce(prob, target, grad, parts, inv_m):
        """torch's BCELoss on probabilities: p clipped to [0, 1], logs clamped at -100, grad eps 1e-12."""
        buf = cuda.shared.array(threads, dtype)
        acc = zero
        for i in range(cuda.grid(1), prob.size, cuda.gridsize(1)):
            p = min(max(prob[i], zero), one)
            y = target[i]
            acc -= y * clamped_log(p) + (one - y) * clamped_log(one - p)
            grad[i] = (p - y) / (max(p * (one - p), grad_eps)) * inv_m
        store_block_sum(buf, acc, parts)

    def bce_with_logits(z, target, grad, parts, inv_m):
        """max(z, 0) - z y + log(1 + e^-|z|): exp() only sees -|z|, so nothing overflows."""
        buf = cuda.shared.array(threads, dtype)
        acc = zero
        for i in range(cuda.grid(1), z.size, cuda.gridsize(1)):
            x = z[i]
            y = target[i]
            acc += max(x, zero) - x * y + math.log1p(math.exp(-abs(x)))
            grad[i] = (sigmoid(x) - y) * inv_m
        store_block_sum(buf, acc, parts)

    return {"mse": mse, "bce": bce, "bce_with_logits": bce_with_logits}


def signatures(t: str) -> dict[str, str]:
    sig = f"void({t}[::1], {t}[::1], {t}[::1], {t}[::1], {t})"
    return {"mse": sig, "bce": sig, "bce_with_logits": sig}


@cache
def kernels(dtype_name: str) -> dict:
    return {name: cuda.jit(fn) for name, fn in build(numba_type(dtype_name)).items()}


@cache
def build_delta(dtype, activation: str, tile: int = COL_TILE, lanes: int = COL_ROWS):
    """δ = dy·act'(y) written to `delta` (skipped for identity, where δ is dy) and its column sums.

    Block (tile columns x lanes row-lanes), grid (column tiles, row chunks): each thread walks its column
    down its chunk's rows, the lanes are added in shared memory, and `parts[chunk, col]` is written;
    stacked_sum.py then adds the chunks. y and dy may be strided views (layout 'A').
    """
    zero = dtype(0)
    backward = device_functions(dtype)[activation][1]
    write_delta = activation != "identity"

    def delta_colsum(y, dy, delta, parts):
        col = cuda.blockIdx.x * tile + cuda.threadIdx.x
        lane = cuda.threadIdx.y
        buf = cuda.shared.array((lanes, tile), dtype)
        rows, cols = y.shape
        acc = zero
        if col < cols:
            for r in range(cuda.blockIdx.y * lanes + lane, rows, cuda.gridDim.y * lanes):
                d = backward(y[r, col], dy[r, col])
                if write_delta:
                    delta[r, col] = d
                acc += d
        buf[lane, cuda.threadIdx.x] = acc
        cuda.syncthreads()  # every lane's partial sum is in buf before lane 0 adds them
        if lane == 0 and col < cols:
            s = zero
            for k in range(lanes):
                s += buf[k, cuda.threadIdx.x]
            parts[cuda.blockIdx.y, col] = s

    return delta_colsum


def delta_signature(t: str) -> str:
    return f"void({t}[:, :], {t}[:, :], {t}[:, ::1], {t}[:, ::1])"


@cache
def delta_kernel(dtype_name: str, activation: str):
    return cuda.jit(build_delta(numba_type(dtype_name), activation))
