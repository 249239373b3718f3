"""dW of a stride-1 convolution with few weights (a first layer), without packing: lane-wise partial sums.

dW[o, k] = Σ_n Σ_v δ[n, o, v] · cols_n[k, v] over the wide pixels v of conv_wide (so im2col row k is the
contiguous run xp[bases[k] + v]). As a GEMM (conv.conv_dw) this has O and C*kh*kw as its sides, 8 x 25
for LeNet's first layer: the register tile wastes 1.6x of its arithmetic on zero padding, and each packed
element is used by only two tiles, so packing dominated (6 GFLOP/s, 1 thread). Here the sum over v is
kept as LANES separate partial sums per (o, k): acc[o, k, l] += δ[o, v0 + l] · xp[bases[k] + v0 + l] is a
plain vector multiply-add over l (no reduction inside the loop, so it vectorises without reassociating
floats), straight from the image; the LANES partial sums are added once at the end, in a fixed order.
Loop order matters: one (o, k) row of acc runs over a whole image before the next, so it stays in L1 (with
the image's δ and pixels); unsigned indices spare a negative-index test per lane.

Measured (1 thread, CPU time, batch 256, against conv.conv_dw): LeNet's 1->8 k5 layer 2.7x faster (3.7 ms
vs 9.8); but 0.85x on a 3->32 k3 layer (864 weights) and 0.45x on LeNet's 8->16 k5 (3200 weights), where
the GEMM's register tile reuses each load many times; hence conv.DW_LANES_MAX.
"""

from __future__ import annotations

import numpy as np
from numba import int64, prange

from mark1.kernels.cpu._jit import IDENTITY, jit_inline, per_dtype, readonly
from mark1.kernels.cpu.conv_wide import padded_flat, wide_bases
from mark1.kernels.cpu.expmath import activation_slope

LANES = 64  # wide pixels per step: a compile-time trip count, whole vector registers
U_LANES = np.uint64(LANES)


@jit_inline
def _delta_wide(y, dy, act, n, wide, d, delta_out):
    """d[o, r*wide + q] = δ[n, o, r, q] = dy·act'(y) (d's other columns stay zero); δ also kept in delta_out
    when that is non-empty. One output row at a time: a vectorisable loop."""
    channels, out_h, out_w = dy.shape[1], dy.shape[2], dy.shape[3]
    keep = delta_out.size > 0
    for o in range(channels):
        for a in range(out_h):
            base = a * wide
            for b in range(out_w):
                g = dy[n, o, a, b]
                if act != IDENTITY:
                    g = g * activation_slope(y[n, o, a, b], act)
                d[o, base + b] = g
            if keep:
                for b in range(out_w):
                    delta_out[n, o, a, b] = d[o, base + b]


def _signature(t):
    # xp (N, C*Hp*Wp + LANES tail), bases (K,), y, dy, act, acc (T, O, K, LANES), db_acc (T, O, LANES), wide,
    # delta_out
    return (readonly(t, 2, "C"), readonly(int64, 1, "C"), readonly(t, 4), readonly(t, 4), int64, t[:, :, :, ::1],
            t[:, :, ::1], int64, t[:, :, :, ::1])


@per_dtype(_signature, dtype_arg=5, parallel=True, work=lambda xp, bases, y, dy, act, acc, *rest: acc.shape[0],
           serial_below=2)
def conv_dw_lanes(xp, bases, y, dy, act, acc, db_acc, wide, delta_out):
    """acc[t, o, k, :] and db_acc[t, o, :] += lane-wise partial sums of dW[o, k] and db[o] over thread t's
    share of the images."""
    batch, channels, out_h, out_w = dy.shape
    virtual = (out_h - 1) * wide + out_w
    steps = (virtual + LANES - 1) // LANES
    threads, depth = acc.shape[0], bases.shape[0]
    for task in prange(threads):
        d = np.zeros((channels, steps * LANES), acc.dtype)
        for n in range(task * batch // threads, (task + 1) * batch // threads):
            _delta_wide(y, dy, act, n, wide, d, delta_out)
            for o in range(channels):
                for step in range(steps):
                    v0 = np.uint64(step * LANES)  # unsigned indices: no negative-index wraparound test per lane
                    for lane in range(U_LANES):
                        db_acc[task, o, lane] += d[o, v0 + lane]
            for k in range(depth):
                for o in range(channels):  # plain indexing: a view would cost a reference count per (k, o)
                    for step in range(steps):  # the (o, k) row of acc stays in L1 (in registers) over the image
                        v0 = np.uint64(step * LANES)
                        start = np.uint64(bases[k]) + v0
                        for lane in range(U_LANES):
                            acc[task, o, k, lane] += d[o, v0 + lane] * xp[n, start + lane]

def weight_gradient(x, w, y, dy, padding, code, threads, delta, dw, db) -> None:
    """dw, db of a stride-1 convolution (conv.conv2d_backward's contract); delta as there."""
    o, kh, kw = w.shape[0], w.shape[2], w.shape[3]
    padded_hw = (dy.shape[2] + kh - 1, dy.shape[3] + kw - 1)
    xp = padded_flat(x, padding, padded_hw, 2 * LANES)  # the last step reads up to LANES past the last pixel
    bases = wide_bases(w.shape[1], (kh, kw), padded_hw)
    acc = np.zeros((threads, o, bases.size, LANES), dw.dtype)
    db_acc = np.zeros((threads, o, LANES), dw.dtype)
    conv_dw_lanes(xp, bases, y, dy, code, acc, db_acc, padded_hw[1], delta)
    dw[...] = acc.sum(axis=(0, 3)).reshape(dw.shape)
    db[...] = db_acc.sum(axis=(0, 2))
