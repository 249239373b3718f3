"""The GEMM: out = act(op(a) @ op(b) + bias), cache-blocked, register-tiled, parallel over blocks of out.

BLIS-style structure, sized for a Zen 3 core (32 KiB L1d, 512 KiB L2):
- K is cut into blocks of at most KC; for each block, B is packed into column panels of NR (kc x NR,
  contiguous, zero-padded) and A into row panels of MR (kc x MR). Packing reads any strides, so transposed
  and sliced inputs cost nothing extra, and zero padding lets the micro-kernel always run a full tile.
- out is split into tasks of (up to) MC_PANELS x NC_PANELS tiles, spread over the threads with prange.
  Within a task the B panel (kc x NR, 16 KiB) stays in L1 while the A panels of the task stream from L2.
- The micro-kernel (_microkernels.py) computes one MR x NR tile in registers; its epilogue adds the
  previous K blocks, and on the last K block the bias and the activation, while the tile is in cache.

Operand transforms fuse the dense layer's backward: `op(b) = b * act'(b2)` computes delta = dy * act'(y)
while packing (never stored), and `colsum` collects db = sum(delta, axis 0) in the same pass.
"""

from __future__ import annotations

import numpy as np
from numba import int64, prange, types
from numba.extending import overload

from mark1.kernels.cpu import _microkernels
from mark1.kernels.cpu._jit import FASTMATH, IDENTITY, jit_inline, per_dtype
from mark1.kernels.cpu.expmath import activate, activation_slope

MR = 5            # rows per register tile (both dtypes)
NR_F32 = 16       # columns per tile: two 8-float AVX2 registers per row
NR_F64 = 8        # two 4-double registers per row
KC = 256          # depth of one packed block: the B panel (KC x NR) fills half of L1
MC_PANELS = 24    # row panels per task: 120 rows x KC of A = 120 KiB of L2 (float32)
NC_PANELS = 16    # column panels per task: 256 columns x KC of B = 256 KiB of L2 (float32)
TASKS_PER_THREAD = 4  # split finer when out is small, so both cores get balanced work
SMALL_WORK = 32 * 32 * 32  # below this many multiply-adds, packing and threads cost more than they save


def micro_tile(kc, a, b, t):
    """Dispatch to the generated micro-kernel whose tile fits the dtype (resolved at compile time)."""
    raise TypeError("micro_tile is only usable inside numba kernels")


@overload(micro_tile, jit_options=dict(fastmath=FASTMATH, error_model="numpy"))
def _micro_tile_impl(kc, a, b, t):
    if t.dtype == types.float32:
        return _microkernels.micro_5x16
    return _microkernels.micro_5x8


@jit_inline
def _cdiv(a, b):
    return (a + b - 1) // b


@jit_inline
def _operand(x, x2, code, i, k):
    """x[i, k], times act'(x2[i, k]) when code names an activation (the delta of a backward pass)."""
    v = x[i, k]
    if code != IDENTITY:
        v = v * activation_slope(x2[i, k], code)
    return v


@jit_inline
def _pack_a_panel(a, a2, a_code, ap, q, k0, kc):
    rows = a.shape[0]
    for i in range(MR):
        r = q * MR + i
        if r < rows:
            for p in range(kc):
                ap[q, p, i] = _operand(a, a2, a_code, r, k0 + p)
        else:
            for p in range(kc):
                ap[q, p, i] = 0


@jit_inline
def _pack_b_panel(b, b2, b_code, bp, q, k0, kc, colsum):
    nr = bp.shape[2]
    cols = b.shape[1]
    for p in range(kc):
        for j in range(nr):
            c = q * nr + j
            bp[q, p, j] = _operand(b, b2, b_code, k0 + p, c) if c < cols else 0
    if colsum.size:
        for j in range(min(nr, cols - q * nr)):
            s = colsum[q * nr + j]
            for p in range(kc):
                s += bp[q, p, j]
            colsum[q * nr + j] = s


@jit_inline
def _store_tile(out, t, i0, j0, first, last, bias, act):
    """Write one tile: += the earlier K blocks' partial sums; on the last block + bias, then act."""
    for i in range(min(MR, out.shape[0] - i0)):
        for j in range(min(t.shape[1], out.shape[1] - j0)):
            v = t[i, j]
            if not first:
                v += out[i0 + i, j0 + j]
            if last:
                if bias.size:
                    v += bias[j0 + j]
                v = activate(v, act)
            out[i0 + i, j0 + j] = v


@jit_inline
def _task_shape(row_panels, col_panels, threads):
    """Panels per task (rows, cols): cache-sized, but at least TASKS_PER_THREAD tasks per thread if possible."""
    mc = min(MC_PANELS, row_panels)
    nc = min(NC_PANELS, col_panels)
    want = TASKS_PER_THREAD * threads
    while _cdiv(row_panels, mc) * _cdiv(col_panels, nc) < want and mc > 1:
        mc = _cdiv(mc, 2)
    while _cdiv(row_panels, mc) * _cdiv(col_panels, nc) < want and nc > 1:
        nc = _cdiv(nc, 2)
    return mc, nc


def _signature(t):
    # a, a2, a_code, b, b2, b_code, out, bias, act, colsum, threads: every array any-stride ('A')
    return (t[:, :], t[:, :], int64, t[:, :], t[:, :], int64, t[:, :], t[:], int64, t[:], int64)


@per_dtype(_signature, dtype_arg=6, parallel=True, slp=True)
def gemm_packed(a, a2, a_code, b, b2, b_code, out, bias, act, colsum, threads):
    """out = act(op(a) @ op(b) + bias); colsum += column sums of op(b) when colsum is non-empty.

    op(x) = x * act'(x2) for x_code != IDENTITY, else x. a (M, K), b (K, N), out (M, N), K >= 1.
    """
    rows, depth = a.shape
    cols = b.shape[1]
    nr = NR_F32 if out.itemsize == 4 else NR_F64
    row_panels = _cdiv(rows, MR)
    col_panels = _cdiv(cols, nr)
    k_blocks = _cdiv(depth, KC)
    kc_max = _cdiv(depth, k_blocks)  # equal blocks: 784 = 4 x 196 rather than 3 x 256 + 16
    ap = np.empty((row_panels, kc_max, MR), out.dtype)
    bp = np.empty((col_panels, kc_max, nr), out.dtype)
    mc, nc = _task_shape(row_panels, col_panels, threads)
    task_cols = _cdiv(col_panels, nc)
    tasks = _cdiv(row_panels, mc) * task_cols
    for kb in range(k_blocks):
        k0 = kb * kc_max
        kc = min(kc_max, depth - k0)
        for q in prange(col_panels):
            _pack_b_panel(b, b2, b_code, bp, q, k0, kc, colsum)
        for q in prange(row_panels):
            _pack_a_panel(a, a2, a_code, ap, q, k0, kc)
        for task in prange(tasks):
            t = np.empty((MR, nr), out.dtype)
            ti = task // task_cols
            tj = task - ti * task_cols
            for jr in range(tj * nc, min(col_panels, (tj + 1) * nc)):
                for ir in range(ti * mc, min(row_panels, (ti + 1) * mc)):
                    micro_tile(kc, ap[ir], bp[jr], t)
                    _store_tile(out, t, ir * MR, jr * nr, kb == 0, kb == k_blocks - 1, bias, act)


@per_dtype(_signature, dtype_arg=6)
def gemm_small(a, a2, a_code, b, b2, b_code, out, bias, act, colsum, threads):
    """Same contract as gemm_packed, one thread (`threads` unused), row by row: for products too small to be
    worth packing."""
    rows, depth = a.shape
    cols = b.shape[1]
    for i in range(rows):
        for j in range(cols):
            out[i, j] = 0
        for k in range(depth):
            aik = _operand(a, a2, a_code, i, k)
            for j in range(cols):
                out[i, j] += aik * _operand(b, b2, b_code, k, j)
        for j in range(cols):
            v = out[i, j]
            if bias.size:
                v += bias[j]
            out[i, j] = activate(v, act)
    if colsum.size:
        for k in range(depth):
            for j in range(cols):
                colsum[j] += _operand(b, b2, b_code, k, j)
