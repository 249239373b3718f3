"""Max and average pooling (NCHW), single pass over each (H, W) plane, parallel over planes.

Max pooling keeps the flat index h * W + w of each window's maximum for the backward pass, which then adds
each dy to that one element. Ties go to the first maximum in the window (row-major) and a NaN counts as
the maximum (the first NaN wins), as NumPy's argmax and torch do.
"""

from __future__ import annotations

from numba import int64, prange

from mark1.kernels.cpu._jit import jit_inline, per_dtype, readonly, typed


def _pool_signature(t):
    # x (N, C, H, W), kh, kw, sh, sw, out (N, C, OH, OW), argmax (N, C, OH, OW) int64
    return (readonly(t, 4), int64, int64, int64, int64, t[:, :, :, ::1], int64[:, :, :, ::1])


@per_dtype(_pool_signature, dtype_arg=5, parallel=True, work=lambda x, *rest: x.size)
def maxpool_forward(x, kh, kw, sh, sw, out, argmax):
    batch, channels, out_h, out_w = out.shape
    wide = x.shape[3]
    for plane in prange(batch * channels):
        n, c = plane // channels, plane % channels
        for a in range(out_h):
            for b in range(out_w):
                if kh == 2 and kw == 2:  # the common window with constant bounds: LLVM unrolls it
                    best, where = _window_max(x, n, c, a * sh, b * sw, 2, 2, wide)
                else:
                    best, where = _window_max(x, n, c, a * sh, b * sw, kh, kw, wide)
                out[n, c, a, b] = best
                argmax[n, c, a, b] = where


@jit_inline
def _window_max(x, n, c, h0, w0, kh, kw, wide):
    """(max, flat index of the first max) of x[n, c, h0:h0+kh, w0:w0+kw]."""
    best, where = x[n, c, h0, w0], h0 * wide + w0
    for i in range(kh):
        for j in range(kw):
            v = x[n, c, h0 + i, w0 + j]
            # NaN (v != v) wins once, then keeps. Selects, not a branch: which element wins is unpredictable
            # on real data, and the mispredicted branches cost ~0.8x the whole loop (measured)
            take = (v > best) | ((v != v) & (best == best))
            best = v if take else best
            where = (h0 + i) * wide + w0 + j if take else where
    return best, where


@per_dtype(lambda t: (readonly(t, 4), readonly(int64, 4), t[:, :, ::1]), dtype_arg=2, parallel=True,
           work=lambda dy, argmax, dx: dx.size)
def maxpool_backward(dy, argmax, dx):
    """dx (N, C, H*W): each plane flat, so the argmax indexes it directly (no division per element)."""
    batch, channels, out_h, out_w = dy.shape
    zero = typed(dx[0, 0, 0], 0)
    for plane in prange(batch * channels):
        n, c = plane // channels, plane % channels
        for k in range(dx.shape[2]):
            dx[n, c, k] = zero
        for a in range(out_h):
            for b in range(out_w):
                dx[n, c, argmax[n, c, a, b]] += dy[n, c, a, b]


@per_dtype(lambda t: (readonly(t, 4), int64, int64, int64, int64, t[:, :, :, ::1]), dtype_arg=5, parallel=True,
           work=lambda x, *rest: x.size)
def avgpool_forward(x, kh, kw, sh, sw, out):
    batch, channels, out_h, out_w = out.shape
    scale = typed(out[0, 0, 0, 0], 1.0 / (kh * kw))
    for plane in prange(batch * channels):
        n, c = plane // channels, plane % channels
        for a in range(out_h):
            for b in range(out_w):
                acc = typed(scale, 0)
                for i in range(kh):
                    for j in range(kw):
                        acc += x[n, c, a * sh + i, b * sw + j]
                out[n, c, a, b] = acc * scale


@per_dtype(lambda t: (readonly(t, 4), int64, int64, int64, int64, t[:, :, :, ::1]), dtype_arg=5, parallel=True,
           work=lambda dy, kh, kw, sh, sw, dx: dx.size)
def avgpool_backward(dy, kh, kw, sh, sw, dx):
    batch, channels, out_h, out_w = dy.shape
    scale = typed(dx[0, 0, 0, 0], 1.0 / (kh * kw))
    for plane in prange(batch * channels):
        n, c = plane // channels, plane % channels
        target = dx[n, c]
        target[:, :] = 0
        for a in range(out_h):
            for b in range(out_w):
                share = dy[n, c, a, b] * scale
                for i in range(kh):
                    for j in range(kw):
                        target[a * sh + i, b * sw + j] += share


def maxpool2d_forward(x, kernel, stride, out, argmax):
    maxpool_forward(x, *kernel, *stride, out, argmax)


def maxpool2d_backward(dy, argmax, dx):
    maxpool_backward(dy, argmax, dx.reshape(*dx.shape[:2], -1))  # dx is C-contiguous (a fresh array)


def avgpool2d_forward(x, kernel, stride, out):
    avgpool_forward(x, *kernel, *stride, out)


def avgpool2d_backward(dy, kernel, stride, dx):
    avgpool_backward(dy, *kernel, *stride, dx)
