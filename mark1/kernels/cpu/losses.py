"""MSE, BCE and BCE-with-logits: the loss and its gradient in one parallel pass, sums kept in float64.

Formulas follow kernels/reference.py (torch's, for BCE); m is the batch size pred.shape[0].
"""

from __future__ import annotations

import math

from numba import int64, prange

from mark1.kernels.cpu._jit import jit_inline, per_dtype, readonly, typed
from mark1.kernels.cpu.elementwise import row_views
from mark1.kernels.cpu.expmath import exp_any, sigmoid_scalar
from mark1.kernels.reference import BCE_GRAD_EPS, BCE_LOG_FLOOR

MSE, BCE, BCE_LOGITS = 0, 1, 2


@jit_inline
def _clamped_log(p):
    lp = math.log(p)  # log(0) = -inf (no exception under error_model='numpy'), clamped next
    return lp if not lp < BCE_LOG_FLOOR else typed(p, BCE_LOG_FLOOR)  # `not <` keeps NaN


@jit_inline
def _mse(p, t, inv_m):
    d = p - t
    return d * inv_m, d * d


@jit_inline
def _bce(prob, t, inv_m):
    one = typed(prob, 1)
    p = typed(prob, 0) if prob < 0 else (one if prob > 1 else prob)  # a clip that keeps NaN
    loss = -(t * _clamped_log(p) + (one - t) * _clamped_log(one - p))
    denom = p * (one - p)
    denom = denom if not denom < BCE_GRAD_EPS else typed(p, BCE_GRAD_EPS)
    return (p - t) / denom * inv_m, loss


@jit_inline
def _bce_logits(z, t, inv_m):
    relu_z = z if not z < 0 else typed(z, 0)
    loss = relu_z - z * t + math.log1p(exp_any(-abs(z)))
    return (sigmoid_scalar(z) - t) * inv_m, loss


def _loss_kernel(kind: int, name: str):
    """The loss-and-gradient kernel for one loss kind. `kind` is a closure constant, so numba prunes the
    other kinds' branches before typing and each kernel compiles only its own math (a first BCE fit used to
    compile MSE and BCE-with-logits too: 1.4 s of JIT instead of 0.5)."""

    def loss_rows(pred, target, grad, batch):
        """Writes grad, returns the float64 sum of the per-element losses (the caller divides)."""
        inv_m = typed(pred[0, 0], 1) / typed(pred[0, 0], batch)
        total = 0.0
        for i in prange(pred.shape[0]):
            row = 0.0
            for j in range(pred.shape[1]):
                if kind == MSE:
                    g, e = _mse(pred[i, j], target[i, j], inv_m)
                elif kind == BCE:
                    g, e = _bce(pred[i, j], target[i, j], inv_m)
                else:
                    g, e = _bce_logits(pred[i, j], target[i, j], inv_m)
                grad[i, j] = g
                row += e
            total += row
        return total

    loss_rows.__qualname__ = loss_rows.__name__ = f"_{name}_rows"  # its own name in numba's cache and logs
    return per_dtype(lambda t: (readonly(t, 2), readonly(t, 2), t[:, :], int64), parallel=True)(loss_rows)


_LOSS_ROWS = {kind: _loss_kernel(kind, name) for kind, name in ((MSE, "mse"), (BCE, "bce"),
                                                                 (BCE_LOGITS, "bce_with_logits"))}


def _loss(kind, pred, target, grad, loss, scale):
    batch = pred.shape[0]
    total = 0.0
    for p2, t2, g2 in row_views(pred, target, grad):
        total += _LOSS_ROWS[kind](p2, t2, g2, batch)
    loss[0] = total * scale / batch


def mse(pred, target, grad, loss):
    """J = sum((p - t)^2) / (2m), grad = (p - t)/m."""
    _loss(MSE, pred, target, grad, loss, 0.5)


def bce(prob, target, grad, loss):
    _loss(BCE, prob, target, grad, loss, 1.0)


def bce_with_logits(logits, target, grad, loss):
    _loss(BCE_LOGITS, logits, target, grad, loss, 1.0)
