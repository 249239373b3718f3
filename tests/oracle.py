"""Independent float64 answers the op tests compare every backend with (written apart from reference.py).

Also the helpers that move test data onto the backend under test in the layouts the ops must accept:
contiguous, transposed and strided views.
"""

from __future__ import annotations

import numpy as np
from scipy import special

import mark1 as m1

# float32 tolerances, stated per op family: elementwise results are within a few ulp; reductions and
# products accumulate rounding roughly with the length summed (checked against sum |terms| below).
# Elementwise checks are relative: an absolute 1e-7 would let sigmoid return 0 for every x below -16. The only
# absolute slack is the smallest normal number, for the documented flush of subnormal results to 0
# (kernels/cpu/expmath.py: float32 sigmoid below -87.3).
F32_ELEMENTWISE = dict(rtol=2e-6, atol=float(np.finfo(np.float32).tiny))
F32_REDUCTION = 2e-6     # x the summed magnitudes
F64_ELEMENTWISE = dict(rtol=1e-13, atol=float(np.finfo(np.float64).tiny))
F64_REDUCTION = 1e-14

LAYOUTS = ("contiguous", "transposed", "strided")


def place(host: np.ndarray, layout: str = "contiguous", dtype=None):
    """`host` on the current backend (dtype kept unless given), laid out as asked; values are unchanged."""
    dtype = dtype or host.dtype
    if layout == "contiguous":
        return m1.asarray(host, dtype=dtype)
    if layout == "transposed":
        return m1.asarray(np.ascontiguousarray(host.T), dtype=dtype).T
    if layout == "strided":  # every other element of a bigger array along each axis, and an offset
        big = np.zeros(tuple(2 * s + 1 for s in host.shape), dtype=dtype)
        big[(slice(1, None, 2),) * host.ndim] = host
        return m1.asarray(big, dtype=dtype)[(slice(1, None, 2),) * host.ndim]
    raise ValueError(layout)


def host64(x) -> np.ndarray:
    return np.asarray(m1.to_numpy(x), dtype=np.float64)


def assert_elementwise(result, expected: np.ndarray, dtype) -> None:
    tol = F32_ELEMENTWISE if np.dtype(dtype) == np.float32 else F64_ELEMENTWISE
    got = m1.to_numpy(result)
    assert got.dtype == np.dtype(dtype), f"result dtype {got.dtype}, expected {dtype}"
    np.testing.assert_allclose(got.astype(np.float64), expected, equal_nan=True, **tol)


def assert_reduction(result, expected: np.ndarray, magnitude: np.ndarray, dtype, k: int) -> None:
    """|got - expected| <= tol * k * magnitude, where magnitude is e.g. |A| @ |B| (a bound on rounding)."""
    rel = F32_REDUCTION if np.dtype(dtype) == np.float32 else F64_REDUCTION
    got = m1.to_numpy(result).astype(np.float64)
    bound = rel * max(k, 1) * magnitude + np.finfo(np.dtype(dtype)).tiny
    bad = np.abs(got - expected) > bound
    assert not bad.any(), (
        f"{bad.sum()} of {bad.size} entries off; worst |err| {np.abs(got - expected).max():.3g} "
        f"vs bound {bound.max():.3g}"
    )


def sigmoid(x):
    return special.expit(x)


def activation(name: str, z):
    return {"identity": lambda v: v, "sigmoid": special.expit, "tanh": np.tanh,
            "relu": lambda v: np.maximum(v, 0)}[name](z)


def activation_grad(name: str, y):
    """act'(z) written in terms of the output y = act(z)."""
    return {"identity": np.ones_like, "sigmoid": lambda v: v * (1 - v), "tanh": lambda v: 1 - v * v,
            "relu": lambda v: (v > 0).astype(np.float64)}[name](y)


def softmax(z):
    return special.softmax(z, axis=1)


def cross_entropy(z, labels):
    m = z.shape[0]
    logp = special.log_softmax(z, axis=1)
    onehot = np.zeros_like(z)
    onehot[np.arange(m), labels] = 1
    return -logp[np.arange(m), labels].sum() / m, (np.exp(logp) - onehot) / m


def mse(p, t):
    m = p.shape[0]
    return ((p - t) ** 2).sum() / (2 * m), (p - t) / m


def bce(p, t):
    m = p.shape[0]
    with np.errstate(divide="ignore"):
        loss = -(t * np.maximum(np.log(p), -100) + (1 - t) * np.maximum(np.log1p(-p), -100)).sum() / m
    return loss, (p - t) / (np.maximum(p * (1 - p), 1e-12) * m)


def bce_with_logits(z, t):
    m = z.shape[0]
    loss = (np.logaddexp(0, z) - z * t).sum() / m
    return loss, (special.expit(z) - t) / m


def weights(model) -> list[np.ndarray]:
    """Host copies of every parameter, to show later that a refused call changed nothing."""
    return [m1.to_numpy(p.data).copy() for p in model.parameters()]


def same_arrays(a: list[np.ndarray], b: list[np.ndarray]) -> bool:
    return all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))


# --- convolutional networks: direct loops in float64 (independent of the im2col reference) ---------------

def conv2d(x, w, b, stride, pads):
    """Direct cross-correlation; pads = (top, bottom, left, right). Returns (N, O, OH, OW)."""
    (sh, sw), (pt, pb, pl, pr) = stride, pads
    n, _, h, wd = x.shape
    o, _, kh, kw = w.shape
    oh, ow = (h + pt + pb - kh) // sh + 1, (wd + pl + pr - kw) // sw + 1
    out = np.zeros((n, o, oh, ow)) + np.asarray(b, np.float64)[None, :, None, None]
    for r in range(oh):
        for q in range(ow):
            for i in range(kh):
                for j in range(kw):
                    hh, ww = r * sh + i - pt, q * sw + j - pl
                    if 0 <= hh < h and 0 <= ww < wd:
                        out[:, :, r, q] += x[:, :, hh, ww] @ w[:, :, i, j].T
    return out


def conv2d_grads(x, w, delta, stride, pads):
    """(dx, dw, db) of the direct convolution for the output gradient delta, by the same loops."""
    (sh, sw), (pt, _, pl, _) = stride, pads
    _, _, h, wd = x.shape
    _, _, kh, kw = w.shape
    dx, dw = np.zeros(x.shape), np.zeros(w.shape)
    for r in range(delta.shape[2]):
        for q in range(delta.shape[3]):
            for i in range(kh):
                for j in range(kw):
                    hh, ww = r * sh + i - pt, q * sw + j - pl
                    if 0 <= hh < h and 0 <= ww < wd:
                        dw[:, :, i, j] += delta[:, :, r, q].T @ x[:, :, hh, ww]
                        dx[:, :, hh, ww] += delta[:, :, r, q] @ w[:, :, i, j]
    return dx, dw, delta.sum(axis=(0, 2, 3))


def pool2d(x, kernel, stride, kind: str):
    """(out, argmax) of max pooling (first max / first NaN wins, flat h*W+w index) or (out, None) of average."""
    (kh, kw), (sh, sw) = kernel, stride
    n, c, h, wd = x.shape
    oh, ow = (h - kh) // sh + 1, (wd - kw) // sw + 1
    out, where = np.zeros((n, c, oh, ow)), np.zeros((n, c, oh, ow), np.int64)
    for a in range(oh):
        for b in range(ow):
            for nn in range(n):
                for cc in range(c):
                    best, at = None, None
                    total = 0.0
                    for i in range(kh):
                        for j in range(kw):
                            v = float(x[nn, cc, a * sh + i, b * sw + j])
                            total += v
                            if best is None or v > best or (np.isnan(v) and not np.isnan(best)):
                                best, at = v, (a * sh + i) * wd + b * sw + j
                    out[nn, cc, a, b] = best if kind == "max" else total / (kh * kw)
                    where[nn, cc, a, b] = at
    return out, (where if kind == "max" else None)


def pool2d_backward(dy, where, input_shape, kernel, stride, kind: str):
    (kh, kw), (sh, sw) = kernel, stride
    dx = np.zeros(input_shape)
    wd = input_shape[3]
    for a in range(dy.shape[2]):
        for b in range(dy.shape[3]):
            if kind == "max":
                for nn in range(dy.shape[0]):
                    for cc in range(dy.shape[1]):
                        k = where[nn, cc, a, b]
                        dx[nn, cc, k // wd, k % wd] += dy[nn, cc, a, b]
            else:
                dx[:, :, a * sh:a * sh + kh, b * sw:b * sw + kw] += dy[:, :, a:a + 1, b:b + 1] / (kh * kw)
    return dx
