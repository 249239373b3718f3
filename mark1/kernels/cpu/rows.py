"""Row-wise kernels: softmax, its backward, and softmax + cross-entropy; one thread per block of rows.

Each row is read through its strides (any layout), its max subtracted before exp so nothing overflows.
"""

from __future__ import annotations

import math

from numba import int64, prange

from mark1.kernels.cpu._jit import jit_inline, jit_internal, per_dtype, readonly, typed
from mark1.kernels.cpu.expmath import exp_any


@jit_inline
def _row_max(x, i):
    m = x[i, 0]
    for j in range(1, x.shape[1]):
        v = x[i, j]
        m = v if v > m else m  # a NaN anywhere still makes the whole row NaN through exp below
    return m


@jit_inline
def _exp_row(x, i, m, out):
    """out[i] = exp(x[i] - m); returns the row's sum."""
    s = typed(m, 0)
    for j in range(x.shape[1]):
        e = exp_any(x[i, j] - m)
        out[i, j] = e
        s += e
    return s


@per_dtype(lambda t: (readonly(t, 2), t[:, :]), parallel=True)
def _softmax(x, out):
    for i in prange(x.shape[0]):
        s = _exp_row(x, i, _row_max(x, i), out)
        inv = typed(s, 1) / s
        for j in range(x.shape[1]):
            out[i, j] *= inv


@per_dtype(lambda t: (readonly(t, 2), readonly(t, 2), t[:, :]), parallel=True)
def _softmax_backward(y, dy, out):
    for i in prange(y.shape[0]):
        dot = typed(y[i, 0], 0)
        for j in range(y.shape[1]):
            dot += dy[i, j] * y[i, j]
        for j in range(y.shape[1]):
            out[i, j] = y[i, j] * (dy[i, j] - dot)


@jit_internal  # not inlined at numba-IR level: that confuses numba's detection of the `total +=` reduction
def _cross_entropy_row(logits, labels, grad, i, inv_m):
    """grad[i] = (softmax(z_i) - onehot)/m; returns logsumexp(z_i) - z_i[label_i] (as float64).

    A label outside [0, classes) (only possible with check_labels=False) makes the row's loss and gradient NaN:
    never a read outside the row, and a negative label does not wrap around to the last class.
    """
    label = labels[i]
    if label < 0 or label >= logits.shape[1]:
        for j in range(logits.shape[1]):
            grad[i, j] = typed(logits[i, 0], math.nan)
        return math.nan
    top = _row_max(logits, i)
    s = _exp_row(logits, i, top, grad)
    scale = inv_m / s
    for j in range(logits.shape[1]):
        grad[i, j] *= scale
    grad[i, label] -= inv_m
    return float(math.log(s) - (logits[i, label] - top))


@per_dtype(lambda t: (readonly(t, 2), readonly(int64, 1), t[:, :]), parallel=True)
def _softmax_cross_entropy(logits, labels, grad):
    """Fills grad and returns the float64 sum over rows of the cross-entropy."""
    rows = logits.shape[0]
    inv_m = typed(logits[0, 0], 1) / typed(logits[0, 0], rows)
    total = 0.0
    for i in prange(rows):
        total += _cross_entropy_row(logits, labels, grad, i, inv_m)
    return total


def softmax(x, out):
    _softmax(x, out)


def softmax_backward(y, dy, out):
    _softmax_backward(y, dy, out)


def softmax_cross_entropy(logits, labels, grad, loss):
    loss[0] = _softmax_cross_entropy(logits, labels, grad) / logits.shape[0]
