"""The NumPy reference for convolution and pooling (NCHW): im2col + matmul, plainly.

im2col turns each output pixel's receptive field into one column, so a convolution is one matrix product
W (O, C*kh*kw) @ cols (C*kh*kw, OH*OW) per image; its backward is two more products and col2im, which adds
each column back onto the pixels it came from. Pooling takes the kh*kw shifted views of the image and
reduces over them. Contract: backends/base.py (padding is (top, left); the output shape implies the rest).
"""

from __future__ import annotations

import numpy as np


def _windows(xp, kh, kw, stride, out_hw):
    """For each kernel offset (i, j), the view of padded xp that offset sees across all output pixels."""
    (sh, sw), (oh, ow) = stride, out_hw
    for i in range(kh):
        for j in range(kw):
            rows, cols = slice(i, i + sh * (oh - 1) + 1, sh), slice(j, j + sw * (ow - 1) + 1, sw)
            yield i, j, (slice(None), slice(None), rows, cols)


def _pads(x, kh, kw, stride, padding, out_hw):
    """((top, bottom), (left, right)): (top, left) as given, bottom/right as much as the output shape needs."""
    h, w = x.shape[2:]
    (sh, sw), (pt, pl), (oh, ow) = stride, padding, out_hw
    return (pt, max(0, (oh - 1) * sh + kh - h - pt)), (pl, max(0, (ow - 1) * sw + kw - w - pl))


def _padded(x, kh, kw, stride, padding, out_hw):
    return np.pad(x, ((0, 0), (0, 0), *_pads(x, kh, kw, stride, padding, out_hw)))


def im2col(x, kh, kw, stride, padding, out_hw):
    """(N, C*kh*kw, OH*OW): column p of image n holds the receptive field of output pixel p, (c, i, j) order."""
    n, c = x.shape[:2]
    xp = _padded(x, kh, kw, stride, padding, out_hw)
    cols = np.empty((n, c, kh, kw, *out_hw), x.dtype)
    for i, j, view in _windows(xp, kh, kw, stride, out_hw):
        cols[:, :, i, j] = xp[view]
    return cols.reshape(n, c * kh * kw, out_hw[0] * out_hw[1])


def conv2d_forward(x, w, b, stride, padding, activation, out):
    n, o = out.shape[:2]
    cols = im2col(x, w.shape[2], w.shape[3], stride, padding, out.shape[2:])
    result = out.reshape(n, o, -1)
    np.matmul(w.reshape(o, -1), cols, out=result)
    result += b[:, None]
    if activation != "identity":
        from mark1.kernels import reference  # the activations (imported here: reference.py imports this file)

        reference._FORWARD[activation](out, out)


def conv2d_backward(x, w, y, dy, stride, padding, activation, dx, dw, db):
    """dw = Σ_n δ_n colsᵀ_n, db = Σ δ, dx = col2im(Wᵀ δ_n): each column's gradient added back where it came from."""
    n, o = dy.shape[:2]
    kh, kw = w.shape[2:]
    delta = dy
    if activation != "identity":
        from mark1.kernels import reference

        delta = np.empty_like(dy)
        reference._BACKWARD[activation](y, dy, delta)
    delta = delta.reshape(n, o, -1)
    cols = im2col(x, kh, kw, stride, padding, dy.shape[2:])
    dw[...] = np.matmul(delta, cols.transpose(0, 2, 1)).sum(axis=0).reshape(dw.shape)
    delta.sum(axis=(0, 2), out=db)
    if dx is None:
        return
    dcols = np.matmul(w.reshape(o, -1).T, delta).reshape(n, x.shape[1], kh, kw, *dy.shape[2:])
    (pt, pb), (pl, pr) = _pads(x, kh, kw, stride, padding, dy.shape[2:])
    dxp = np.zeros((*x.shape[:2], x.shape[2] + pt + pb, x.shape[3] + pl + pr), x.dtype)
    for i, j, view in _windows(dxp, kh, kw, stride, dy.shape[2:]):
        dxp[view] += dcols[:, :, i, j]
    dx[...] = dxp[:, :, pt:pt + x.shape[2], pl:pl + x.shape[3]]


def _stack(x, kernel, stride, out_hw):
    """(kh*kw, N, C, OH, OW): the pooling windows' elements, in row-major order within each window."""
    return np.stack([x[view] for _, _, view in _windows(x, *kernel, stride, out_hw)])


def maxpool2d_forward(x, kernel, stride, out, argmax):
    """The first maximum of each window wins ties, and a NaN counts as the maximum (np.argmax), as in torch."""
    stack = _stack(x, kernel, stride, out.shape[2:])
    k = stack.argmax(axis=0)
    out[...] = np.take_along_axis(stack, k[None], axis=0)[0]
    i, j = np.divmod(k, kernel[1])
    oh, ow = np.indices(out.shape[2:])
    argmax[...] = (oh * stride[0] + i) * x.shape[3] + ow * stride[1] + j


def maxpool2d_backward(dy, argmax, dx):
    n, c = dy.shape[:2]
    flat = np.zeros((n, c, dx.shape[2] * dx.shape[3]), dx.dtype)
    rows, chans = np.indices((n, c))
    np.add.at(flat, (rows[..., None], chans[..., None], argmax.reshape(n, c, -1)), dy.reshape(n, c, -1))
    dx[...] = flat.reshape(dx.shape)


def avgpool2d_forward(x, kernel, stride, out):
    out[...] = _stack(x, kernel, stride, out.shape[2:]).mean(axis=0)


def avgpool2d_backward(dy, kernel, stride, dx):
    dx[...] = 0
    share = dy / (kernel[0] * kernel[1])
    for _, _, view in _windows(dx, *kernel, stride, dy.shape[2:]):
        dx[view] += share


OPS = {name: globals()[name] for name in (
    "conv2d_forward", "conv2d_backward", "maxpool2d_forward", "maxpool2d_backward",
    "avgpool2d_forward", "avgpool2d_backward",
)}
