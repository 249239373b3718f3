"""conv2d forward and backward as implicit GEMMs on the GEMM's micro-kernel: the im2col matrix is never stored.

Stride 1 (nearly every layer) goes through conv_wide.py (forward, dW and dx over "wide" output rows, the
im2col rows read in place) and, for fewer than 8 output channels, conv_dw_lanes.py (dW); the kernels below
serve the other strides (and stride 1 with conv_wide switched off: WIDE, WIDE_DW).

Forward, per image n: out[n] (O, OH*OW) = W (O, C*kh*kw) @ cols_n, where column p of cols_n is output pixel
p's receptive field. W is packed once into MR-row panels; cols_n is formed NR columns at a time, straight
from the image, in the step that packs the micro-kernel's B panel (`_pack_taps`), so only one kc x NR
panel of it ever exists (in L1). Bias and activation are applied to each column panel while it is in cache.
The packing is a branch-free gather through a table of input offsets per (kernel tap, output pixel), worked
out once per call (`tap_offsets`); it replaced copying run by run along output rows, whose fixed cost per
run dominated on small layers (measured: LeNet's 8->16 k5 layer forward 1.4x, dW 1.3x faster; packing was
still ~2/3 of the forward's time before, the micro-kernel the rest).

Backward:
- dW (O, C*kh*kw) = Σ_n δ_n colsᵀ_n, a GEMM with depth OH*OW: δ = dy·act'(y) is formed while packing the A
  panels (and db summed in that same pass), colsᵀ_n packed from the image like the forward's B panels.
  Each thread accumulates its share of the batch into its own zero-padded tile buffer; the buffers are added
  at the end (no atomics, a fixed order).
- dx is the transposed convolution col2im(Wᵀ δ_n): a GEMM with depth O whose MR x NR tiles are added onto
  the input pixels they belong to straight from the micro-kernel's tile (col2im fused into the tile store),
  in parallel over images, so no two threads add into the same pixel. (The alternative, a gather of δ per
  input pixel as a GEMM of depth O*kh*kw, was measured 3-8x slower here: it packs kh*kw times more elements
  for the few rows, C, of a first layer.)

A direct convolution (each output row accumulated tap by tap from the input rows, no packing) was measured
3-12x slower than this on LeNet's two layers and 3->32 / 16->32 3x3 layers (1 thread, batch 64), so it is
not used.
"""

from __future__ import annotations

import numba
import numpy as np
from numba import int64, prange

from mark1.kernels.cpu import conv_dw_lanes, conv_wide
from mark1.kernels.cpu import gemm as _gemm
from mark1.kernels.cpu._jit import ACTIVATION_CODES, IDENTITY, cdiv, jit_inline, per_dtype, readonly, typed
from mark1.kernels.cpu.conv_wide import KC, SERIAL_WORK, forward_work, pack_rows
from mark1.kernels.cpu.epilogue import activate_block
from mark1.kernels.cpu.expmath import activation_slope
from mark1.kernels.cpu.gemm import micro_tile, micro_tile_out
from mark1.kernels.cpu.microkernel import register_tile
from mark1.kernels.cpu.packing import aligned_empty

MR, NR_F32, NR_F64 = _gemm.MR, _gemm.NR_F32, _gemm.NR_F64  # per-ISA values live in gemm.py
# Stride-1 dW runs as lane-wise sums (conv_dw_lanes) for few output channels and weights, else through
# conv_wide's in-place im2col rows, whose narrow tile holds O of its 16 float32 lanes busy. Measured (batch 64,
# 1 thread pair): 1->4 k3 165 vs 194 us, 1->6 k5 457 vs 634, 3->4 k3 400 vs 584 (lanes faster); 1->8 k5 tie
# (1489 vs 1484 at batch 256); 3->8 k3 727 vs 465, 2->10 k5 837 vs 385, 1->8 k7 1129 vs 824 (wide faster).
DW_LANES_MAX = 512       # weights (O*C*kh*kw) up to which conv_dw_lanes may run
DW_LANES_CHANNELS = 8    # ... and output channels below which it does
WIDE = True              # stride 1 through conv_wide (contiguous packing); False: the offset-table gather
WIDE_DW = True           # stride-1 dW through conv_wide (im2col rows read in place); False: the gather


@jit_inline
def _inside(length, w0, step, wide):
    """(t_lo, t_hi): the t < length with 0 <= w0 + t*step < wide. Stride 1 without dividing: a division costs
    ~25 cycles, and a run of a small layer is only a few elements long."""
    if step == 1:
        t_lo = min(length, max(0, -w0))
        return t_lo, max(t_lo, min(length, wide - w0))
    t_lo = min(length, 0 if w0 >= 0 else (step - 1 - w0) // step)
    return t_lo, max(t_lo, min(length, (wide - w0 + step - 1) // step))


@jit_inline
def _fill_run(dst, r0, c0, dr, dc, length, src, n, ch, row, w0, step, zero):
    """dst[r0 + t*dr, c0 + t*dc] = src[n, ch, row, w0 + t*step] where that is inside the image, else zero, for
    t < length: one straight copy between two zero fills (bounds worked out once per run, not per element).
    Plain indexing, no array views: a view in numba costs a reference-count increment and decrement."""
    t_lo, t_hi = 0, 0
    if row >= 0 and row < src.shape[2] and ch < src.shape[1]:
        t_lo, t_hi = _inside(length, w0, step, src.shape[3])
    for t in range(t_lo):
        dst[r0 + t * dr, c0 + t * dc] = zero
    for t in range(t_lo, t_hi):
        dst[r0 + t * dr, c0 + t * dc] = src[n, ch, row, w0 + t * step]
    for t in range(t_hi, length):
        dst[r0 + t * dr, c0 + t * dc] = zero


@jit_inline
def _runs(p0, count, out_w, run_start, run_row, run_col):
    """Split output pixels p0..p0+count into runs along one output row; returns how many runs."""
    runs = 0
    t = 0
    a, b = p0 // out_w, p0 % out_w
    while t < count:
        run_start[runs], run_row[runs], run_col[runs] = t, a, b
        runs += 1
        t += out_w - b
        a, b = a + 1, 0
    run_start[runs] = count
    return runs


@jit_inline
def _pack_taps(xf, n, bp, k0, kc, j0, offsets, taps, plane):
    """bp[:kc, :] = im2col(x[n])[k0:k0+kc, j0:j0+NR]: row k = (channel, tap) reads x's flat plane `channel` at
    offsets[tap, j0:j0+NR] (-1: padding, read as zero). The offsets are worked out once per call for all
    images and channels (tap_offsets), so packing is a branch-free gather: no bounds tests, no divisions."""
    nr = bp.shape[1]
    zero = typed(bp[0, 0], 0)
    for kk in range(kc):
        k = k0 + kk
        ch = k // taps
        tap = k - ch * taps
        base = ch * plane
        for jj in range(nr):
            o = offsets[tap, j0 + jj]
            v = xf[n, base + max(o, 0)]
            bp[kk, jj] = v if o >= 0 else zero


@jit_inline
def _store_partial(out, t, i0, j0, mi, nj, accumulate):
    for i in range(mi):
        for j in range(nj):
            if accumulate:
                out[i0 + i, j0 + j] += t[i, j]
            else:
                out[i0 + i, j0 + j] = t[i, j]


@jit_inline
def _epilogue_rows(out, j0, nj, bias, act):
    """out[:, j0:j0+nj] = act(out + bias[row]): one bias per output channel (a row of out)."""
    if bias.size:
        for r in range(out.shape[0]):
            seg = out[r, j0:j0 + nj]
            br = bias[r]
            for j in range(nj):
                seg[j] += br
    if act != IDENTITY:
        activate_block(out, np.int64(0), out.shape[0], j0, j0 + nj, act)


def _gemm_signature(t):
    # xf (N, C*H*W), offsets (taps, P padded to NR), ap (panels, K, MR), out (N, M, P), bias, act, taps, plane
    return (readonly(t, 2, "C"), readonly(int64, 2, "C"), readonly(t, 3, "C"), t[:, :, ::1], readonly(t, 1), int64,
            int64, int64)


@per_dtype(_gemm_signature, dtype_arg=3, parallel=True, slp=True, work=forward_work, serial_below=SERIAL_WORK)
def conv_gemm(xf, offsets, ap, out, bias, act, taps, plane):
    """out[n] = act(A @ im2col(src[n]) + bias[:, None]) for every image n, in parallel over images."""
    batch, rows, cols = out.shape
    row_panels, depth = ap.shape[0], ap.shape[1]
    nr = NR_F32 if out.itemsize == 4 else NR_F64
    k_blocks = cdiv(depth, KC)
    kc_max = cdiv(depth, k_blocks)
    epilogue = bias.size > 0 or act != IDENTITY
    for n in prange(batch):
        target = out[n]
        bp = aligned_empty((kc_max, nr), out)
        t = aligned_empty((MR, nr), out)
        for j0 in range(0, cols, nr):
            nj = min(nr, cols - j0)
            for kb in range(k_blocks):
                k0 = kb * kc_max
                kc = min(kc_max, depth - k0)
                _pack_taps(xf, n, bp, k0, kc, j0, offsets, taps, plane)
                for ir in range(row_panels):
                    i0 = ir * MR
                    mi = min(MR, rows - i0)
                    if mi == MR and nj == nr:
                        micro_tile_out(kc, ap[ir, k0:k0 + kc], bp, target, np.uint64(i0), np.uint64(j0), kb > 0)
                    else:
                        micro_tile(kc, ap[ir, k0:k0 + kc], bp, t)
                        _store_partial(target, t, i0, j0, mi, nj, kb > 0)
            if epilogue:
                _epilogue_rows(target, j0, nj, bias, act)


@jit_inline
def _pack_delta(y, dy, act, n, p0, kc, ap, db, delta_out):
    """ap[ir, :kc, r] = δ[n, ir*mr + r, p0:p0+kc] (zero rows past O; mr = the panels' height), δ = dy·act'(y);
    db += its row sums; δ is also kept in delta_out when that is non-empty (the dx pass reads it)."""
    channels, out_w = dy.shape[1], dy.shape[3]
    keep = delta_out.size > 0
    mr = ap.shape[2]  # the tile height of the conv_dw variant (MR or the short tile)
    for o in range(ap.shape[0] * mr):
        ir, r = o // mr, o % mr
        if o >= channels:
            for pp in range(kc):
                ap[ir, pp, r] = 0
            continue
        acc = typed(ap[0, 0, 0], 0)
        a, b = p0 // out_w, p0 % out_w  # output pixel p0 + pp, stepped without dividing
        for pp in range(kc):
            d = dy[n, o, a, b]
            if act != IDENTITY:
                d = d * activation_slope(y[n, o, a, b], act)
            ap[ir, pp, r] = d
            acc += d
            if keep:
                delta_out[n, o, a, b] = d
            b += 1
            if b == out_w:
                a, b = a + 1, 0
        db[o] += acc


@jit_inline
def _pack_taps_transposed(xf, n, bp, p0, kc, k0, offsets, taps, channels, plane):
    """bp[:kc, jj] = im2col(x[n])[k0 + jj, p0:p0+kc]: the B panel of dW = δ colsᵀ (zero past the K columns),
    the same branch-free gather as _pack_taps."""
    zero = typed(bp[0, 0], 0)
    for jj in range(bp.shape[1]):
        k = k0 + jj
        ch = k // taps
        tap = k - ch * taps
        if ch >= channels:
            for pp in range(kc):
                bp[pp, jj] = zero
            continue
        base = ch * plane
        for pp in range(kc):
            o = offsets[tap, p0 + pp]
            v = xf[n, base + max(o, 0)]
            bp[pp, jj] = v if o >= 0 else zero


def _dw_signature(t):
    # xf (N, C*H*W), offsets, y, dy, act, parts (T, O_pad, K_pad), db_parts (T, O_pad), taps, plane, delta_out
    return (readonly(t, 2, "C"), readonly(int64, 2, "C"), readonly(t, 4), readonly(t, 4), int64, t[:, :, ::1],
            t[:, ::1], int64, int64, t[:, :, :, ::1])


def _dw_threads(xf, offsets, y, dy, act, parts, *rest):
    return parts.shape[0]


# replaced per variant (see _jit.renamed): dW's tile rows (over output channels) and that register tile
ROWS = MR
TILE = register_tile


def _dw(xf, offsets, y, dy, act, parts, db_parts, taps, plane, delta_out):
    """parts[t] += Σ over thread t's images of δ_n colsᵀ_n (zero-padded to whole tiles); db_parts[t] likewise."""
    batch, channels = xf.shape[0], xf.shape[1] // plane
    spots = dy.shape[2] * dy.shape[3]
    threads, o_pad, k_pad = parts.shape
    nr = NR_F32 if parts.itemsize == 4 else NR_F64
    row_panels = o_pad // ROWS
    p_blocks = cdiv(spots, KC)
    kc_max = cdiv(spots, p_blocks)
    for task in prange(threads):
        ap = np.empty((row_panels, kc_max, ROWS), parts.dtype)
        bp = aligned_empty((kc_max, nr), parts)
        target = parts[task]
        for n in range(task * batch // threads, (task + 1) * batch // threads):
            for pb in range(p_blocks):
                p0 = pb * kc_max
                kc = min(kc_max, spots - p0)
                _pack_delta(y, dy, act, n, p0, kc, ap, db_parts[task], delta_out)
                for j0 in range(0, k_pad, nr):
                    _pack_taps_transposed(xf, n, bp, p0, kc, j0, offsets, taps, channels, plane)
                    for ir in range(row_panels):
                        TILE(kc, ap[ir], bp, target, np.uint64(ir * ROWS), np.uint64(j0), True)


@jit_inline
def _add_run(tile, m, c0, length, dx, n, ch, row, w0, step):
    """dx[n, ch, row, w0 + t*step] += tile[m, c0 + t] where that is inside the image (col2im of one run)."""
    if row < 0 or row >= dx.shape[2]:
        return
    t_lo, t_hi = _inside(length, w0, step, dx.shape[3])
    for t in range(t_lo, t_hi):
        dx[n, ch, row, w0 + t * step] += tile[m, c0 + t]


def _dx_signature(t):
    # delta (N, O, OH, OW), ap (panels over C*kh*kw, O, MR), dx (N, C, H, W) zeroed, kh, kw, sh, sw, pt, pl
    return (readonly(t, 4), readonly(t, 3, "C"), t[:, :, :, ::1]) + (int64,) * 6


def _dx_work(delta, ap, dx, *rest):
    return delta.size * ap.shape[0] * MR


@per_dtype(_dx_signature, dtype_arg=2, parallel=True, slp=True, work=_dx_work, serial_below=SERIAL_WORK)
def conv_dx(delta, ap, dx, kh, kw, sh, sw, pt, pl):
    """dx[n] += col2im(Wᵀ δ_n), in parallel over images: each MR x NR tile of Wᵀ δ_n (rows (c, i, j), columns
    output pixels) is added onto the input pixels it belongs to straight from the micro-kernel's tile, so the
    column matrix is never stored. δ's NR-pixel panels are packed run by run, like the forward's."""
    batch, depth, out_h, out_w = delta.shape
    spots = out_h * out_w
    rows = dx.shape[1] * kh * kw
    taps = kh * kw
    nr = NR_F32 if dx.itemsize == 4 else NR_F64
    k_blocks = cdiv(depth, KC)
    kc_max = cdiv(depth, k_blocks)
    for n in prange(batch):
        bp = aligned_empty((depth, nr), dx)
        t = aligned_empty((MR, nr), dx)
        zero = typed(t[0, 0], 0)
        run_start = np.empty(nr + 1, np.int64)
        run_row = np.empty(nr, np.int64)
        run_col = np.empty(nr, np.int64)
        for j0 in range(0, spots, nr):
            width = min(nr, spots - j0)
            runs = _runs(j0, width, out_w, run_start, run_row, run_col)
            for o in range(depth):
                for jj in range(width, nr):
                    bp[o, jj] = zero
                for r in range(runs):
                    _fill_run(bp, o, run_start[r], 0, 1, run_start[r + 1] - run_start[r], delta, n, o, run_row[r],
                              run_col[r], 1, zero)
            for kb in range(k_blocks):
                k0 = kb * kc_max
                kc = min(kc_max, depth - k0)
                for ir in range(ap.shape[0]):
                    micro_tile(kc, ap[ir, k0:k0 + kc], bp[k0:k0 + kc], t)
                    for m in range(min(MR, rows - ir * MR)):
                        k = ir * MR + m
                        ch = k // taps
                        i = (k - ch * taps) // kw
                        j = k - ch * taps - i * kw
                        for r in range(runs):
                            _add_run(t, m, run_start[r], run_start[r + 1] - run_start[r], dx, n, ch,
                                     run_row[r] * sh + i - pt, run_col[r] * sw + j - pl, sw)


def tap_offsets(image: tuple, out_hw: tuple, kernel: tuple, stride: tuple, padding: tuple, nr: int) -> np.ndarray:
    """(kh*kw, P rounded up to NR) int64: for kernel tap (i, j) and output pixel p = (r, q), the flat offset
    (r*sh + i - top) * W + q*sw + j - left of the input pixel it reads within one channel's plane, or -1 where
    that pixel is padding (or p is past the last pixel). Shared by every image and channel of a call."""
    (height, wide), (out_h, out_w), (kh, kw), (sh, sw), (pt, pl) = image, out_hw, kernel, stride, padding
    spots = out_h * out_w
    p = np.arange(-(-spots // nr) * nr)
    r, q = p // out_w, p % out_w
    i, j = np.divmod(np.arange(kh * kw), kw)
    h = r[None, :] * sh + i[:, None] - pt
    w = q[None, :] * sw + j[:, None] - pl
    inside = (p[None, :] < spots) & (h >= 0) & (h < height) & (w >= 0) & (w < wide)
    return np.where(inside, h * wide + w, -1).astype(np.int64)


def _nr(dtype) -> int:
    return NR_F32 if dtype == np.float32 else NR_F64


def _flat_images(x) -> np.ndarray:
    """x as (N, C*H*W), C-contiguous (a copy only for a strided view)."""
    return np.ascontiguousarray(x).reshape(x.shape[0], -1)


def conv2d_forward(x, w, b, stride, padding, activation, out):
    n, o = out.shape[:2]
    kh, kw = w.shape[2:]
    if WIDE and conv_wide.wide_applies(stride):
        conv_wide.forward(x, w, b, padding, ACTIVATION_CODES[activation], out, _nr(out.dtype))
        return
    offsets = tap_offsets(x.shape[2:], out.shape[2:], (kh, kw), stride, padding, _nr(out.dtype))
    conv_gemm(_flat_images(x), offsets, pack_rows(w.reshape(o, -1)), out.reshape(n, o, -1), b,
              ACTIVATION_CODES[activation], kh * kw, x.shape[2] * x.shape[3])


def conv2d_backward(x, w, y, dy, stride, padding, activation, dx, dw, db):
    n, o, c = x.shape[0], w.shape[0], w.shape[1]
    kh, kw = w.shape[2:]
    code = ACTIVATION_CODES[activation]
    nr = _nr(dw.dtype)
    k = c * kh * kw
    serial = n * o * k * dy.shape[2] * dy.shape[3] < SERIAL_WORK
    threads = 1 if serial else max(1, min(numba.get_num_threads(), n))  # one buffer per thread: 1 runs serially
    stride1 = conv_wide.wide_applies(stride)
    wide = WIDE and stride1
    keep = dx is not None and code != IDENTITY and not wide  # the wide dx forms δ itself, image by image
    delta = np.empty(dy.shape, dy.dtype) if keep else np.empty((0, 0, 0, 0), dy.dtype)
    if stride1 and o * k <= DW_LANES_MAX and o < DW_LANES_CHANNELS:
        conv_dw_lanes.weight_gradient(x, w, y, dy, padding, code, threads, delta, dw, db)
    elif WIDE_DW and stride1:
        conv_wide.weight_gradient(x, w, y, dy, padding, code, threads, dw, db)
    else:
        rows = conv_wide.tile_rows(o)
        parts = np.zeros((threads, -(-o // rows) * rows, -(-k // nr) * nr), dw.dtype)
        db_parts = np.zeros(parts.shape[:2], dw.dtype)
        offsets = tap_offsets(x.shape[2:], dy.shape[2:], (kh, kw), stride, padding, nr)
        DWS[rows](_flat_images(x), offsets, y, dy, code, parts, db_parts, kh * kw, x.shape[2] * x.shape[3], delta)
        dw[...] = parts.sum(axis=0)[:o, :k].reshape(dw.shape)
        db[...] = db_parts.sum(axis=0)[:o]
    if dx is None:
        return
    if wide:
        conv_wide.input_gradient(y, dy, code, w, padding, dx, threads)
        return
    dx.fill(0)
    conv_dx(delta if keep else dy, pack_rows(w.reshape(o, k).T), dx, kh, kw, *stride, *padding)


# dW by tile rows, made last: a variant's globals are a copy of this module's at the time it is made
DWS = conv_wide.by_tile_height(_dw, "conv_dw", False, _dw_signature, dtype_arg=5, parallel=True, slp=True,
                               work=_dw_threads, serial_below=2)
conv_dw = DWS[MR]
