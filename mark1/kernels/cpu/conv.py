"""conv2d forward and backward as implicit GEMMs on the GEMM's micro-kernel: the im2col matrix is never stored.

Forward, per image n: out[n] (O, OH*OW) = W (O, C*kh*kw) @ cols_n, where column p of cols_n is output pixel
p's receptive field. W is packed once into MR-row panels; cols_n is formed NR columns at a time, straight
from the image, in the step that packs the micro-kernel's B panel (`_pack_cols`), so only one kc x NR
panel of it ever exists (in L1). Bias and activation are applied to each column panel while it is in cache.

Backward:
- dW (O, C*kh*kw) = Σ_n δ_n colsᵀ_n, a GEMM with depth OH*OW: δ = dy·act'(y) is formed while packing the A
  panels (and db summed in that same pass), colsᵀ_n packed from the image like the forward's B panels.
  Each thread accumulates its share of the batch into its own zero-padded tile buffer; the buffers are added
  at the end (no atomics, a fixed order).
- dx is a transposed convolution, the forward driver in its second packing mode: dx[n] (C, H*W) =
  Wᵀ (C, O*kh*kw) @ G_n, where G_n[(o, i, j), (h, w)] = δ[n, o, (h+top-i)/sh, (w+left-j)/sw] when that is an
  integer pixel of δ, else 0. This is col2im folded into the packing: a gather, so no scatter and no race.
"""

from __future__ import annotations

import numba
import numpy as np
from numba import int64, prange

from mark1.kernels.cpu import gemm as _gemm
from mark1.kernels.cpu._jit import ACTIVATION_CODES, IDENTITY, SIGMOID, jit_inline, per_dtype, readonly, typed
from mark1.kernels.cpu.expmath import activate, activation_slope, sigmoid_scalar
from mark1.kernels.cpu.gemm import micro_tile, micro_tile_out

MR, NR_F32, NR_F64 = _gemm.MR, _gemm.NR_F32, _gemm.NR_F64  # per-ISA values live in gemm.py
KC = 256                 # depth of one packed block, as the GEMM (the B panel, KC x NR, stays in L1)
IMAGES, GRADIENT = 0, 1  # _pack_cols modes: im2col of the input, or the transposed-convolution gather of δ
SERIAL_WORK = 1 << 20    # multiply-adds below which a convolution runs on one thread


@jit_inline
def _cdiv(a, b):
    return (a + b - 1) // b


@jit_inline
def _pack_cols(src, n, mode, bp, k0, kc, p0, width, out_w, kh, kw, sh, sw, pt, pl):
    """bp[:kc, :] = columns p0..p0+NR of B for depth k0..k0+kc (zero past `width` columns or outside the image).

    Row k of B is (channel, i, j) of the kernel; column p is the output pixel (p // out_w, p % out_w).
    IMAGES: B = im2col(x). GRADIENT: B = the gather of δ whose product with Wᵀ is the transposed convolution.
    """
    nr = bp.shape[1]
    height, wide = src.shape[2], src.shape[3]
    taps = kh * kw
    zero = typed(bp[0, 0], 0)
    rows = np.empty(nr, np.int64)
    cols = np.empty(nr, np.int64)
    for jj in range(nr):
        p = p0 + jj
        rows[jj] = p // out_w if jj < width else -(1 << 40)  # far outside: the bounds test zeroes the padding
        cols[jj] = p - (p // out_w) * out_w
    for kk in range(kc):
        k = k0 + kk
        ch = k // taps
        i = (k - ch * taps) // kw
        j = k - ch * taps - i * kw
        dst = bp[kk]
        if mode == IMAGES:
            for jj in range(nr):
                h = rows[jj] * sh + i - pt
                w = cols[jj] * sw + j - pl
                inside = h >= 0 and h < height and w >= 0 and w < wide
                dst[jj] = src[n, ch, h, w] if inside else zero
        else:
            for jj in range(nr):
                th = rows[jj] + pt - i
                tw = cols[jj] + pl - j
                v = zero
                if th >= 0 and tw >= 0 and th % sh == 0 and tw % sw == 0:
                    a, b = th // sh, tw // sw
                    if a < height and b < wide:
                        v = src[n, ch, a, b]
                dst[jj] = v


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
    for r in range(out.shape[0]):
        seg = out[r, j0:j0 + nj]
        if bias.size:
            br = bias[r]
            for j in range(nj):
                seg[j] += br
        if act == SIGMOID:
            for j in range(nj):
                seg[j] = sigmoid_scalar(seg[j])
        elif act != IDENTITY:
            for j in range(nj):
                seg[j] = activate(seg[j], act)


def _gemm_signature(t):
    # src, ap (panels, K, MR), out (N, M, P), bias, act, mode, out_w, kh, kw, sh, sw, pt, pl
    return (readonly(t, 4), readonly(t, 3, "C"), t[:, :, ::1], readonly(t, 1), int64, int64) + (int64,) * 7


def _gemm_work(src, ap, out, *rest):
    return out.size * ap.shape[1]


@per_dtype(_gemm_signature, dtype_arg=2, parallel=True, slp=True, work=_gemm_work, serial_below=SERIAL_WORK)
def conv_gemm(src, ap, out, bias, act, mode, out_w, kh, kw, sh, sw, pt, pl):
    """out[n] = act(A @ B_n + bias[:, None]) for every image n, in parallel over images; B_n from _pack_cols."""
    batch, rows, cols = out.shape
    row_panels, depth = ap.shape[0], ap.shape[1]
    nr = NR_F32 if out.itemsize == 4 else NR_F64
    k_blocks = _cdiv(depth, KC)
    kc_max = _cdiv(depth, k_blocks)
    epilogue = bias.size > 0 or act != IDENTITY
    for n in prange(batch):
        target = out[n]
        bp = np.empty((kc_max, nr), out.dtype)
        t = np.empty((MR, nr), out.dtype)
        for j0 in range(0, cols, nr):
            nj = min(nr, cols - j0)
            for kb in range(k_blocks):
                k0 = kb * kc_max
                kc = min(kc_max, depth - k0)
                _pack_cols(src, n, mode, bp, k0, kc, j0, nj, out_w, kh, kw, sh, sw, pt, pl)
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
    """ap[ir, :kc, r] = δ[n, ir*MR + r, p0:p0+kc] (zero rows past O), δ = dy·act'(y); db += its row sums;
    δ is also kept in delta_out when that is non-empty (the dx pass reads it)."""
    channels, out_w = dy.shape[1], dy.shape[3]
    keep = delta_out.size > 0
    for o in range(ap.shape[0] * MR):
        ir, r = o // MR, o % MR
        if o >= channels:
            for pp in range(kc):
                ap[ir, pp, r] = 0
            continue
        acc = typed(ap[0, 0, 0], 0)
        for pp in range(kc):
            p = p0 + pp
            a, b = p // out_w, p % out_w
            d = dy[n, o, a, b]
            if act != IDENTITY:
                d = d * activation_slope(y[n, o, a, b], act)
            ap[ir, pp, r] = d
            acc += d
            if keep:
                delta_out[n, o, a, b] = d
        db[o] += acc


@jit_inline
def _pack_cols_transposed(x, n, bp, p0, kc, k0, out_w, kh, kw, sh, sw, pt, pl):
    """bp[:kc, jj] = im2col(x)[k0 + jj, p0:p0+kc]: the B panel of dW = δ colsᵀ (zero past the K columns)."""
    nr = bp.shape[1]
    channels, height, wide = x.shape[1], x.shape[2], x.shape[3]
    taps = kh * kw
    zero = typed(bp[0, 0], 0)
    for jj in range(nr):
        k = k0 + jj
        ch = k // taps
        i = (k - ch * taps) // kw
        j = k - ch * taps - i * kw
        for pp in range(kc):
            p = p0 + pp
            h = (p // out_w) * sh + i - pt
            w = (p % out_w) * sw + j - pl
            inside = ch < channels and h >= 0 and h < height and w >= 0 and w < wide
            bp[pp, jj] = x[n, ch, h, w] if inside else zero


def _dw_signature(t):
    # x, y, dy, act, parts (T, O_pad, K_pad), db_parts (T, O_pad), kh, kw, sh, sw, pt, pl, delta_out
    return (readonly(t, 4), readonly(t, 4), readonly(t, 4), int64, t[:, :, ::1], t[:, ::1]) + (int64,) * 6 + (
        t[:, :, :, ::1],)


@per_dtype(_dw_signature, dtype_arg=4, parallel=True, slp=True, work=lambda x, y, dy, act, parts, *rest: parts.shape[0],
           serial_below=2)
def conv_dw(x, y, dy, act, parts, db_parts, kh, kw, sh, sw, pt, pl, delta_out):
    """parts[t] += Σ over thread t's images of δ_n colsᵀ_n (zero-padded to whole tiles); db_parts[t] likewise."""
    batch = x.shape[0]
    spots = dy.shape[2] * dy.shape[3]
    out_w = dy.shape[3]
    threads, o_pad, k_pad = parts.shape
    nr = NR_F32 if parts.itemsize == 4 else NR_F64
    row_panels = o_pad // MR
    p_blocks = _cdiv(spots, KC)
    kc_max = _cdiv(spots, p_blocks)
    for task in prange(threads):
        ap = np.empty((row_panels, kc_max, MR), parts.dtype)
        bp = np.empty((kc_max, nr), parts.dtype)
        target = parts[task]
        for n in range(task * batch // threads, (task + 1) * batch // threads):
            for pb in range(p_blocks):
                p0 = pb * kc_max
                kc = min(kc_max, spots - p0)
                _pack_delta(y, dy, act, n, p0, kc, ap, db_parts[task], delta_out)
                for j0 in range(0, k_pad, nr):
                    _pack_cols_transposed(x, n, bp, p0, kc, j0, out_w, kh, kw, sh, sw, pt, pl)
                    for ir in range(row_panels):
                        micro_tile_out(kc, ap[ir], bp, target, np.uint64(ir * MR), np.uint64(j0), True)


def pack_rows(a: np.ndarray) -> np.ndarray:
    """a (M, K) as MR-row panels (ceil(M / MR), K, MR), zero-padded: the micro-kernel's A operand."""
    m, k = a.shape
    panels = -(-m // MR)
    padded = np.zeros((panels * MR, k), a.dtype)
    padded[:m] = a
    return np.ascontiguousarray(padded.reshape(panels, MR, k).transpose(0, 2, 1))


_NO_ARRAY = {np.dtype(np.float32): np.empty(0, np.float32), np.dtype(np.float64): np.empty(0, np.float64)}


def conv2d_forward(x, w, b, stride, padding, activation, out):
    n, o = out.shape[:2]
    kh, kw = w.shape[2:]
    conv_gemm(x, pack_rows(w.reshape(o, -1)), out.reshape(n, o, -1), b, ACTIVATION_CODES[activation], IMAGES,
              out.shape[3], kh, kw, *stride, *padding)


def conv2d_backward(x, w, y, dy, stride, padding, activation, dx, dw, db):
    n, o, c = x.shape[0], w.shape[0], w.shape[1]
    kh, kw = w.shape[2:]
    code = ACTIVATION_CODES[activation]
    nr = NR_F32 if dw.dtype == np.float32 else NR_F64
    k = c * kh * kw
    serial = n * o * k * dy.shape[2] * dy.shape[3] < SERIAL_WORK
    threads = 1 if serial else max(1, min(numba.get_num_threads(), n))  # one buffer per thread: 1 runs serially
    parts = np.zeros((threads, -(-o // MR) * MR, -(-k // nr) * nr), dw.dtype)
    db_parts = np.zeros(parts.shape[:2], dw.dtype)
    keep = dx is not None and code != IDENTITY
    delta = np.empty(dy.shape, dy.dtype) if keep else np.empty((0, 0, 0, 0), dy.dtype)
    conv_dw(x, y, dy, code, parts, db_parts, kh, kw, *stride, *padding, delta)
    dw[...] = parts.sum(axis=0)[:o, :k].reshape(dw.shape)
    db[...] = db_parts.sum(axis=0)[:o]
    if dx is None:
        return
    wt = w.transpose(1, 0, 2, 3).reshape(c, -1)
    conv_gemm(delta if keep else dy, pack_rows(wt), dx.reshape(n, c, -1), _NO_ARRAY[dx.dtype], IDENTITY, GRADIENT,
              dx.shape[3], kh, kw, *stride, *padding)
