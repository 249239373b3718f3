"""conv2d and pooling as numba.cuda kernels (NCHW): simple and correct, one thread per output element.

Every kernel is a grid-stride loop over the flat index of what it writes, decoded to (n, c, h, w), so no two
threads write the same element (no atomics, results independent of the launch shape):
- conv_forward_<act>: out[n, o, a, b] = act(b[o] + Σ_{c,i,j} x[n, c, a*sh+i-top, b*sw+j-left] w[o, c, i, j])
- conv_dw: one thread per weight, summing δ · x over the batch and the output pixels; conv_db one per channel
- conv_dx: one thread per input pixel, gathering the δ pixels whose window covers it (transposed convolution)
- pooling: forward per output element (max keeps the argmax); max backward per (n, c) plane (windows may
  overlap, so one thread owns a plane), average backward per input pixel over the windows covering it.
Not register-tiled: a GPU implicit GEMM would be the next step (see the README's convolution section).
"""

from __future__ import annotations

from functools import cache

from numba import cuda

from mark1.kernels.cuda.activations import device_functions
from mark1.kernels.cuda.dtypes import numba_type

ACTIVATIONS = ("identity", "sigmoid", "tanh", "relu")


@cuda.jit(device=True)
def _unflatten(k, shape):
    """(n, c, h, w) of flat index k in a C-ordered array of `shape`."""
    w = k % shape[3]
    k //= shape[3]
    h = k % shape[2]
    k //= shape[2]
    return k // shape[1], k % shape[1], h, w


@cache
def build(dtype) -> dict:
    zero = dtype(0)
    acts = device_functions(dtype)

    def forward(act):
        def conv_forward(x, w, bias, out, sh, sw, pt, pl):
            channels, kh, kw = w.shape[1], w.shape[2], w.shape[3]
            height, wide = x.shape[2], x.shape[3]
            for k in range(cuda.grid(1), out.size, cuda.gridsize(1)):
                n, o, a, b = _unflatten(k, out.shape)
                acc = bias[o]
                for c in range(channels):
                    for i in range(kh):
                        h = a * sh + i - pt
                        if h >= 0 and h < height:
                            for j in range(kw):
                                col = b * sw + j - pl
                                if col >= 0 and col < wide:
                                    acc += x[n, c, h, col] * w[o, c, i, j]
                out[n, o, a, b] = act(acc)

        return conv_forward

    def conv_dw(x, delta, dw, sh, sw, pt, pl):
        height, wide = x.shape[2], x.shape[3]
        batch, out_h, out_w = delta.shape[0], delta.shape[2], delta.shape[3]
        for k in range(cuda.grid(1), dw.size, cuda.gridsize(1)):
            o, c, i, j = _unflatten(k, dw.shape)
            acc = zero
            for n in range(batch):
                for a in range(out_h):
                    h = a * sh + i - pt
                    if h >= 0 and h < height:
                        for b in range(out_w):
                            col = b * sw + j - pl
                            if col >= 0 and col < wide:
                                acc += delta[n, o, a, b] * x[n, c, h, col]
            dw[o, c, i, j] = acc

    def conv_db(delta, db):
        batch, out_h, out_w = delta.shape[0], delta.shape[2], delta.shape[3]
        for o in range(cuda.grid(1), db.size, cuda.gridsize(1)):
            acc = zero
            for n in range(batch):
                for a in range(out_h):
                    for b in range(out_w):
                        acc += delta[n, o, a, b]
            db[o] = acc

    def conv_dx(delta, w, dx, sh, sw, pt, pl):
        outs, kh, kw = w.shape[0], w.shape[2], w.shape[3]
        out_h, out_w = delta.shape[2], delta.shape[3]
        for k in range(cuda.grid(1), dx.size, cuda.gridsize(1)):
            n, c, h, col = _unflatten(k, dx.shape)
            acc = zero
            for i in range(kh):
                th = h + pt - i
                if th >= 0 and th % sh == 0 and th // sh < out_h:
                    for j in range(kw):
                        tw = col + pl - j
                        if tw >= 0 and tw % sw == 0 and tw // sw < out_w:
                            for o in range(outs):
                                acc += delta[n, o, th // sh, tw // sw] * w[o, c, i, j]
            dx[n, c, h, col] = acc

    def maxpool_forward(x, kh, kw, sh, sw, out, argmax):
        wide = x.shape[3]
        for k in range(cuda.grid(1), out.size, cuda.gridsize(1)):
            n, c, a, b = _unflatten(k, out.shape)
            h0, w0 = a * sh, b * sw
            best, where = x[n, c, h0, w0], h0 * wide + w0
            for i in range(kh):
                for j in range(kw):
                    v = x[n, c, h0 + i, w0 + j]
                    if v > best or (v != v and best == best):  # first max; a NaN wins (the first NaN)
                        best, where = v, (h0 + i) * wide + w0 + j
            out[n, c, a, b] = best
            argmax[n, c, a, b] = where

    def maxpool_backward(dy, argmax, dx):
        channels, wide = dx.shape[1], dx.shape[3]
        planes = dx.shape[0] * channels
        for plane in range(cuda.grid(1), planes, cuda.gridsize(1)):
            n, c = plane // channels, plane % channels
            for h in range(dx.shape[2]):
                for col in range(wide):
                    dx[n, c, h, col] = zero
            for a in range(dy.shape[2]):
                for b in range(dy.shape[3]):
                    t = argmax[n, c, a, b]
                    dx[n, c, t // wide, t % wide] += dy[n, c, a, b]

    def avgpool_forward(x, kh, kw, sh, sw, out):
        scale = dtype(1) / dtype(kh * kw)
        for k in range(cuda.grid(1), out.size, cuda.gridsize(1)):
            n, c, a, b = _unflatten(k, out.shape)
            acc = zero
            for i in range(kh):
                for j in range(kw):
                    acc += x[n, c, a * sh + i, b * sw + j]
            out[n, c, a, b] = acc * scale

    def avgpool_backward(dy, kh, kw, sh, sw, dx):
        scale = dtype(1) / dtype(kh * kw)
        out_h, out_w = dy.shape[2], dy.shape[3]
        for k in range(cuda.grid(1), dx.size, cuda.gridsize(1)):
            n, c, h, col = _unflatten(k, dx.shape)
            acc = zero
            # window a covers row h when a*sh <= h <= a*sh + kh - 1
            for a in range(max(0, (h - kh) // sh + 1), min(out_h - 1, h // sh) + 1):
                for b in range(max(0, (col - kw) // sw + 1), min(out_w - 1, col // sw) + 1):
                    acc += dy[n, c, a, b]
            dx[n, c, h, col] = acc * scale

    kernels = {f"conv_forward_{name}": forward(acts[name][0]) for name in ACTIVATIONS}
    kernels.update(conv_dw=conv_dw, conv_db=conv_db, conv_dx=conv_dx, maxpool_forward=maxpool_forward,
                   maxpool_backward=maxpool_backward, avgpool_forward=avgpool_forward,
                   avgpool_backward=avgpool_backward)
    return kernels


def signatures(t: str) -> dict[str, str]:
    """numba signatures of build()'s kernels for element type name `t` (used by the compile test)."""
    a4, c4, i4 = f"{t}[:, :, :, :]", f"{t}[:, :, :, ::1]", "int64[:, :, :, ::1]"
    geometry = "int64, int64, int64, int64"
    sigs = {f"conv_forward_{name}": f"void({a4}, {a4}, {t}[:], {c4}, {geometry})" for name in ACTIVATIONS}
    sigs.update(
        conv_dw=f"void({a4}, {a4}, {c4}, {geometry})",
        conv_db=f"void({a4}, {t}[::1])",
        conv_dx=f"void({a4}, {a4}, {c4}, {geometry})",
        maxpool_forward=f"void({a4}, {geometry}, {c4}, {i4})",
        maxpool_backward=f"void({a4}, int64[:, :, :, :], {c4})",
        avgpool_forward=f"void({a4}, {geometry}, {c4})",
        avgpool_backward=f"void({a4}, {geometry}, {c4})",
    )
    return sigs


@cache
def kernels(dtype_name: str) -> dict:
    return {name: cuda.jit(fn) for name, fn in build(numba_type(dtype_name)).items()}
