"""Packing for the GEMM (gemm.py): op(a) and op(b) copied into the contiguous, zero-padded panels the register
tile reads, from any strides.

Two tiers, so a plain matmul compiles only the plain copies: `pack_b_copy`/`pack_a_copy` move x as it is;
`pack_b_panel`/`pack_a_rows` also apply the dense backward's operand transform op(x) = x * act'(x2) (delta
formed while packing, never stored) and collect column sums (db) of op(b) in the same pass.
"""

from __future__ import annotations

import numpy as np

from mark1.kernels.cpu._intrinsics import copy_run
from mark1.kernels.cpu._jit import IDENTITY, SIGMOID, jit, typed
from mark1.kernels.cpu.expmath import activation_slope
from mark1.kernels.cpu.microkernel import tile_width
from mark1.kernels.cpu.params import PARAMS

MR = PARAMS.mr


@jit
def operand(x, x2, code, i, k):
    """x[i, k], times act'(x2[i, k]) when code names an activation (the delta of a backward pass)."""
    v = x[i, k]
    if code != IDENTITY:
        v = v * activation_slope(x2[i, k], code)
    return v


@jit
def pack_b_copy(b, bp, q):
    """Column panel q of b, all of K, into bp[:, q] (K blocks x kc x NR, zero-padded columns).

    bp is K-block major (k_blocks, panels, kc, NR), as BLIS packs a KC x NC block: the panels of one K block,
    which the compute step keeps in L2 as one chunk, are one contiguous run. Panel-major (panels, K, NR) put
    a K block's slices K x NR x 4 bytes apart (256 KiB at K = 2048), the same virtual L2 sets for all of them;
    with 4 KiB pages the physical sets are a matter of luck either way, and the measured difference stayed
    within this VM's noise (2048^3 on one thread: 0.84-0.88 of OpenBLAS panel-major, 0.86-0.93 K-major).
    """
    kc_max, nr = bp.shape[2], bp.shape[3]
    depth, cols = b.shape
    c0 = q * nr
    width = min(nr, cols - c0)
    full = tile_width(bp)
    for k0 in range(0, depth, kc_max):
        panel = bp[k0 // kc_max, q]
        kc = min(kc_max, depth - k0)
        if width == full and nr == full:  # the common case: a loop of constant length, unrolled into vector copies
            for p in range(kc):
                src = b[k0 + p, c0:c0 + full]
                dst = panel[p]
                for j in range(full):
                    dst[j] = src[j]
            continue
        for p in range(kc):
            src = b[k0 + p, c0:c0 + width]
            dst = panel[p]
            for j in range(width):
                dst[j] = src[j]
            for j in range(width, nr):
                dst[j] = 0


@jit
def pack_b_panel(b, b2, b_code, bp, q, colsum):
    """Column panel q of op(b) into bp[:, q] (zero-padded); colsum += its column sums when colsum is non-empty."""
    kc_max, nr = bp.shape[2], bp.shape[3]
    depth, cols = b.shape
    c0 = q * nr
    width = min(nr, cols - c0)
    if b_code == IDENTITY:
        pack_b_copy(b, bp, q)
    else:
        for k0 in range(0, depth, kc_max):
            panel = bp[k0 // kc_max, q]
            kc = min(kc_max, depth - k0)
            if b_code == SIGMOID and width == nr:  # the dense backward's delta = dy * y(1-y): one branch-free row
                one = typed(panel[0, 0], 1)
                for p in range(kc):
                    src = b[k0 + p, c0:c0 + nr]
                    ys = b2[k0 + p, c0:c0 + nr]
                    dst = panel[p]
                    for j in range(nr):
                        dst[j] = src[j] * (ys[j] * (one - ys[j]))
            else:
                for p in range(kc):
                    for j in range(nr):
                        panel[p, j] = operand(b, b2, b_code, k0 + p, c0 + j) if j < width else 0
    if colsum.size:
        # row by row into a full-width local sum (the padding columns are zero): NR-wide vector adds, where
        # column by column walked the panel with a stride of NR
        sums = np.zeros(nr, bp.dtype)
        for k0 in range(0, depth, kc_max):
            panel = bp[k0 // kc_max, q]
            for p in range(min(kc_max, depth - k0)):
                row = panel[p]
                for j in range(nr):
                    sums[j] += row[j]
        for j in range(width):
            colsum[c0 + j] += sums[j]


@jit
def pack_a_copy(a, ap, first_panel, k0, kc):
    """Row panels first_panel.. of a[:, k0:k0+kc] into ap (panels x kc x MR, zero-padded rows).

    k outermost: each step writes MR adjacent panel elements instead of MR stride-MR passes; for a = x.T
    (every dw = x.T @ delta) it also reads MR adjacent elements of a row of x instead of striding down its
    columns. Measured faster for both layouts (1 thread).
    """
    rows = a.shape[0]
    mr = ap.shape[2]
    for local in range(ap.shape[0]):
        panel = ap[local]
        r0 = (first_panel + local) * mr
        height = min(mr, rows - r0)
        if height == MR:  # constant trip count: unrolled
            for p in range(kc):
                dst = panel[p]
                for i in range(MR):
                    dst[i] = a[r0 + i, k0 + p]
            continue
        for p in range(kc):
            dst = panel[p]
            for i in range(height):
                dst[i] = a[r0 + i, k0 + p]
            for i in range(height, mr):
                dst[i] = 0


@jit
def pack_a_panels(a, ap, first_panel, k0, kc):
    """pack_a_copy for any number of panels: a transposed a (unit stride down its columns) goes through
    _pack_a_transposed. Separate from pack_a_copy, which the in-place variants use for their one partial
    panel, so those do not compile the transposed pass (0.14 s of a first fit on an empty cache)."""
    if a.strides[0] == a.itemsize and ap.shape[0] > 1:
        _pack_a_transposed(a, ap, first_panel, k0, kc)
    else:
        pack_a_copy(a, ap, first_panel, k0, kc)


@jit
def _pack_a_transposed(a, ap, first_panel, k0, kc):
    """pack_a_copy for a unit stride down a's columns (a = x.T): one pass along each row of x.

    Panel by panel, each panel read MR floats from each of kc rows of x (a 784-wide x: 3 KiB apart), all
    kc rows again for every panel. Here each row of x is read once, contiguously, into every panel's slot
    for that k: x.T @ g, 784 x 16384 . 16384 x 128 on two threads, 12.9 -> 11.7 ms (4096: 3.14 -> 2.90).
    """
    rows = a.shape[0]
    mr = ap.shape[2]
    panels = ap.shape[0]
    r_first = first_panel * mr
    full = min(panels, (rows - r_first) // mr)  # panels with all MR rows inside a
    for p in range(kc):
        src = a[r_first:, k0 + p]  # contiguous: the row k0 + p of x
        for local in range(full):
            copy_run(ap[local, p], src[local * MR:], MR)  # one vector move (numba's scalar copies: 1.9x slower)
        for local in range(full, panels):
            dst = ap[local, p]
            for i in range(mr):
                r = local * mr + i
                dst[i] = src[r] if r_first + r < rows else 0


@jit
def pack_a_rows(a, a2, a_code, ap, first_panel, k0, kc):
    """pack_a_panels of op(a): the transform applied row by row (contiguous reads of dy and y)."""
    if a_code == IDENTITY:
        pack_a_panels(a, ap, first_panel, k0, kc)
        return
    rows = a.shape[0]
    mr = ap.shape[2]
    for local in range(ap.shape[0]):
        panel = ap[local]
        r0 = (first_panel + local) * mr
        for i in range(mr):
            r = r0 + i
            if r >= rows:
                for p in range(kc):
                    panel[p, i] = 0
            elif a_code == SIGMOID:  # delta = dy * y(1-y) without the per-element activation branches
                src = a[r, k0:k0 + kc]
                ys = a2[r, k0:k0 + kc]
                for p in range(kc):
                    panel[p, i] = src[p] * (ys[p] * (typed(ys[p], 1) - ys[p]))
            else:
                for p in range(kc):
                    panel[p, i] = operand(a, a2, a_code, r, k0 + p)
