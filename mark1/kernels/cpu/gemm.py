"""The GEMM: out = act(op(a) @ op(b) + bias), cache-blocked, register-tiled, parallel over row blocks of out.

BLIS-style structure, sized by params.py from the detected caches (L1d, L2) and vector ISA:
- op(b) is packed once into column panels of NR (K x NR, contiguous, zero-padded), in parallel.
- out's rows are split into tasks (at most MC_PANELS panels of MR rows, a multiple of the thread count);
  for each K block of at most KC, a task packs its rows of op(a) into panels of MR (kc x MR, in L2) and runs
  the micro-kernel over its tiles, column panel by column panel, so each B micro-panel (kc x NR, about 2/3
  of L1d) stays in L1 while the task's A panels stream past it.
- The micro-kernel (microkernel.py, LLVM vector IR generated for the path) keeps one MR x NR tile in vector
  registers and adds it straight into out (edge tiles go through a small buffer); after the last K block the
  bias and activation are applied to the tile while it is still in cache. Packing reads any strides, so
  transposed and sliced inputs cost nothing extra, and zero padding lets the micro-kernel always run a full tile.

Operand transforms fuse the dense layer's backward: `op(b) = b * act'(b2)` computes delta = dy * act'(y)
while packing (never stored), and `colsum` collects db = sum(delta, axis 0) in the same pass.
"""

from __future__ import annotations

import numpy as np
from numba import int64, prange
from numba.extending import overload

from mark1.kernels.cpu._intrinsics import prefetch_for_write
from mark1.kernels.cpu._jit import FASTMATH, IDENTITY, SIGMOID, jit_inline, per_dtype, readonly, typed
from mark1.kernels.cpu.expmath import activate, activation_slope, sigmoid_scalar
from mark1.kernels.cpu.microkernel import register_tile
from mark1.kernels.cpu.params import PARAMS

MR = PARAMS.mr            # rows per register tile (both dtypes)
NR_F32 = PARAMS.nr_f32    # columns per float32 tile: two vector registers per row
NR_F64 = PARAMS.nr_f64
KC = PARAMS.kc            # depth of one K block
MC_PANELS = PARAMS.mc_panels  # row panels per task at most
SMALL_WORK = PARAMS.gemm_small_work    # at or below this many multiply-adds, packing costs more than it saves
SERIAL_WORK = PARAMS.gemm_serial_work  # multiply-adds below which the packed GEMM runs on one thread


def micro_tile(kc, a, b, t):
    """t[:MR, :NR] = a[:kc].T @ b[:kc] for packed panels a (kc, MR) and b (kc, NR) (inside numba kernels)."""
    raise TypeError("micro_tile is only usable inside numba kernels")


def micro_tile_out(kc, a, b, out, i0, j0, accumulate):
    """out[i0:i0+MR, j0:j0+NR] (+)= a[:kc].T @ b[:kc], a full tile, out C-contiguous (inside numba kernels)."""
    raise TypeError("micro_tile_out is only usable inside numba kernels")


_MICRO_OPTIONS = dict(jit_options=dict(fastmath=FASTMATH, error_model="numpy"))


@overload(micro_tile, **_MICRO_OPTIONS)
def _micro_tile_impl(kc, a, b, t):
    def impl(kc, a, b, t):
        register_tile(kc, a, b, t, 0, 0, False)

    return impl


@overload(micro_tile_out, **_MICRO_OPTIONS)
def _micro_tile_out_impl(kc, a, b, out, i0, j0, accumulate):
    def impl(kc, a, b, out, i0, j0, accumulate):
        register_tile(kc, a, b, out, i0, j0, accumulate)

    return impl


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
def _pack_b_panel(b, b2, b_code, bp, q, colsum):
    """Column panel q of op(b), all of K, into bp[q] (K x NR, zero-padded); colsum += its column sums."""
    nr = bp.shape[2]
    depth, cols = b.shape
    c0 = q * nr
    width = min(nr, cols - c0)
    panel = bp[q]
    if b_code == IDENTITY and width == nr:  # the common case, without per-element branches
        for p in range(depth):
            src = b[p, c0:c0 + nr]
            dst = panel[p]
            for j in range(nr):
                dst[j] = src[j]
    elif b_code == SIGMOID and width == nr:  # the dense backward's delta = dy * y(1-y): one branch-free row
        one = typed(panel[0, 0], 1)
        for p in range(depth):
            src = b[p, c0:c0 + nr]
            ys = b2[p, c0:c0 + nr]
            dst = panel[p]
            for j in range(nr):
                dst[j] = src[j] * (ys[j] * (one - ys[j]))
    else:
        for p in range(depth):
            for j in range(nr):
                panel[p, j] = _operand(b, b2, b_code, p, c0 + j) if j < width else 0
    if colsum.size:
        # row by row into a full-width local sum (the padding columns are zero): NR-wide vector adds, where
        # column by column walked the panel with a stride of NR
        sums = np.zeros(nr, panel.dtype)
        for p in range(depth):
            row = panel[p]
            for j in range(nr):
                sums[j] += row[j]
        for j in range(width):
            colsum[c0 + j] += sums[j]


@jit_inline
def _pack_a_rows(a, a2, a_code, ap, first_panel, k0, kc):
    """Row panels first_panel.. of op(a)[:, k0:k0+kc] into ap (panels x kc x MR, zero-padded rows)."""
    rows = a.shape[0]
    # k outermost: each step writes MR adjacent panel elements (one 20-byte store run) instead of MR
    # stride-MR passes; for op(a) = x.T (every dw = x.T @ delta) it also reads MR adjacent elements of a
    # row of x instead of striding down its columns. Measured faster for both layouts (1 thread).
    k_major = a_code == IDENTITY
    for local in range(ap.shape[0]):
        panel = ap[local]
        r0 = (first_panel + local) * MR
        if k_major and r0 + MR <= rows:
            for p in range(kc):
                dst = panel[p]
                for i in range(MR):
                    dst[i] = a[r0 + i, k0 + p]
            continue
        for i in range(MR):
            r = r0 + i
            if r >= rows:
                for p in range(kc):
                    panel[p, i] = 0
            elif a_code == IDENTITY:
                src = a[r, k0:k0 + kc]
                for p in range(kc):
                    panel[p, i] = src[p]
            elif a_code == SIGMOID:  # delta = dy * y(1-y) without the per-element activation branches
                src = a[r, k0:k0 + kc]
                ys = a2[r, k0:k0 + kc]
                for p in range(kc):
                    panel[p, i] = src[p] * (ys[p] * (typed(ys[p], 1) - ys[p]))
            else:
                for p in range(kc):
                    panel[p, i] = _operand(a, a2, a_code, r, k0 + p)


@jit_inline
def _store_partial(out, t, i0, j0, mi, nj, accumulate):
    for i in range(mi):
        for j in range(nj):
            if accumulate:
                out[i0 + i, j0 + j] += t[i, j]
            else:
                out[i0 + i, j0 + j] = t[i, j]


@jit_inline
def _epilogue(out, i0, j0, mi, nj, bias, act):
    """out tile = act(out tile + bias), row segment by row segment (each a vectorisable loop)."""
    for i in range(mi):
        seg = out[i0 + i, j0:j0 + nj]
        if bias.size:
            bseg = bias[j0:j0 + nj]
            for j in range(nj):
                seg[j] += bseg[j]
        if act == SIGMOID:
            for j in range(nj):
                seg[j] = sigmoid_scalar(seg[j])
        elif act != IDENTITY:
            for j in range(nj):
                seg[j] = activate(seg[j], act)


@jit_inline
def _task_grid(row_panels, col_panels, threads):
    """(row tasks, column tasks): rows split into L2-sized blocks, rounded up to a multiple of the thread
    count so a static split is balanced; columns split only when there are too few rows for the threads."""
    row_tasks = min(row_panels, _cdiv(_cdiv(row_panels, MC_PANELS), threads) * threads)
    col_tasks = 1
    if row_tasks < threads:
        col_tasks = min(col_panels, _cdiv(threads, row_tasks))
    return row_tasks, col_tasks


def _signature(t):
    # a, a2, a_code, b, b2, b_code, out (C-contiguous), bias, act, colsum, threads
    a = readonly(t, 2)
    return (a, a, int64, a, a, int64, t[:, ::1], readonly(t, 1), int64, t[:], int64)


def _work(a, a2, a_code, b, *rest):
    return a.shape[0] * a.shape[1] * b.shape[1]


@per_dtype(_signature, dtype_arg=6, parallel=True, work=_work, serial_below=SERIAL_WORK)
def gemm_packed(a, a2, a_code, b, b2, b_code, out, bias, act, colsum, threads):
    """out = act(op(a) @ op(b) + bias); colsum += column sums of op(b) when colsum is non-empty.

    op(x) = x * act'(x2) for x_code != IDENTITY, else x. a (M, K), b (K, N), out (M, N), K >= 1.
    Two parallel regions: pack all of op(b); then each task packs its rows of op(a) per K block and runs
    the micro-kernel over its tiles, adding bias and activation to each tile after its last K block.
    """
    rows, depth = a.shape
    cols = b.shape[1]
    nr = NR_F32 if out.itemsize == 4 else NR_F64
    row_panels = _cdiv(rows, MR)
    col_panels = _cdiv(cols, nr)
    k_blocks = _cdiv(depth, KC)
    kc_max = _cdiv(depth, k_blocks)  # equal blocks: 784 = 4 x 196 rather than 3 x 256 + 16
    bp = np.empty((col_panels, depth, nr), out.dtype)
    for q in prange(col_panels):
        _pack_b_panel(b, b2, b_code, bp, q, colsum)
    row_tasks, col_tasks = _task_grid(row_panels, col_panels, threads)
    epilogue = bias.size > 0 or act != IDENTITY
    for task in prange(row_tasks * col_tasks):
        ti = task // col_tasks
        tj = task - ti * col_tasks
        r_lo, r_hi = ti * row_panels // row_tasks, (ti + 1) * row_panels // row_tasks
        c_lo, c_hi = tj * col_panels // col_tasks, (tj + 1) * col_panels // col_tasks
        ap = np.empty((r_hi - r_lo, kc_max, MR), out.dtype)
        t = np.empty((MR, nr), out.dtype)
        for kb in range(k_blocks):
            k0 = kb * kc_max
            kc = min(kc_max, depth - k0)
            _pack_a_rows(a, a2, a_code, ap, r_lo, k0, kc)
            for jr in range(c_lo, c_hi):
                panel = bp[jr, k0:k0 + kc]
                j0 = jr * nr
                nj = min(nr, cols - j0)
                for ir in range(r_lo, r_hi):
                    i0 = ir * MR
                    mi = min(MR, rows - i0)
                    if mi == MR and nj == nr:
                        for i in range(MR):
                            prefetch_for_write(out, i0 + i, j0)
                        register_tile(kc, ap[ir - r_lo], panel, out, i0, j0, kb > 0)
                    else:
                        register_tile(kc, ap[ir - r_lo], panel, t, 0, 0, False)
                        _store_partial(out, t, i0, j0, mi, nj, kb > 0)
                    if epilogue and kb == k_blocks - 1:
                        _epilogue(out, i0, j0, mi, nj, bias, act)


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
