"""Max and average pooling (NCHW), single pass over each (H, W) plane, parallel over planes.

Max pooling keeps the flat index h * W + w of each window's maximum for the backward pass, which then adds
each dy to that one element. Ties go to the first maximum in the window (row-major) and a NaN counts as
the maximum (the first NaN wins), as NumPy's argmax and torch do.
"""

from __future__ import annotations

from numba import int64, prange

from mark1.kernels.cpu._jit import per_dtype, readonly, typed


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
                h0, w0 = a * sh, b * sw
                best, where = x[n, c, h0, w0], h0 * wide + w0
                for i in range(kh):
                    for j in range(kw):
                        v = x[n, c, h0 + i, w0 + j]
                        if v > best or (v != v and best == best):  # NaN (v != v) wins once, then keeps
                            best, where = v, (h0 + i) * wide + w0 + j
                out[n, c, a, b] = best
                argmax[n, c, a, b] = where


@per_dtype(lambda t: (readonly(t, 4), readonly(int64, 4), t[:, :, :, ::1]), dtype_arg=2, parallel=True,
           work=lambda dy, argmax, dx: dx.size)
def maxpool_backward(dy, argmax, dx):
    batch, channels, out_h, out_w = dy.shape
    wide = dx.shape[3]
    for plane in prange(batch * channels):
        n, c = plane // channels, plane % channels
        target = dx[n, c]
        target[:, :] = 0
        for a in range(out_h):
            for b in range(out_w):
                k = argmax[n, c, a, b]
                target[k // wide, k % wide] += dy[n, c, a, b]


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
    maxpool_backward(dy, argmax, dx)


def avgpool2d_forward(x, kernel, stride, out):
    avgpool_forward(x, *kernel, *stride, out)


def avgpool2d_backward(dy, kernel, stride, dx):
    avgpool_backward(dy, *kernel, *stride, dx)
