"""SGD (with momentum) and Adam: in-place parameter updates, one parallel pass, no temporaries."""

from __future__ import annotations

import math

from numba import float64, prange

from mark1.kernels.cpu._jit import per_dtype, readonly, typed
from mark1.kernels.cpu.elementwise import row_views


@per_dtype(lambda t: (t[:, :], readonly(t, 2), t[:, :], float64, float64, float64), parallel=True)
def _sgd_rows(param, grad, velocity, lr, momentum, weight_decay):
    # Constants in the parameters' dtype, so float32 arithmetic matches NumPy's float32 reference.
    lr, momentum, weight_decay = typed(param[0, 0], lr), typed(param[0, 0], momentum), typed(param[0, 0], weight_decay)
    for i in prange(param.shape[0]):
        for j in range(param.shape[1]):
            g = grad[i, j]
            if weight_decay != 0:
                g = g + weight_decay * param[i, j]
            if momentum != 0:
                g = momentum * velocity[i, j] + g
                velocity[i, j] = g
            param[i, j] -= lr * g


@per_dtype(lambda t: (t[:, :], readonly(t, 2), t[:, :], t[:, :]) + (float64,) * 7, parallel=True)
def _adam_rows(param, grad, m, v, lr, beta1, beta2, eps, weight_decay, correction1, correction2):
    like = param[0, 0]
    lr, eps, weight_decay = typed(like, lr), typed(like, eps), typed(like, weight_decay)
    beta1, beta2 = typed(like, beta1), typed(like, beta2)
    one = typed(like, 1)
    correction1, correction2 = typed(like, correction1), typed(like, correction2)
    for i in prange(param.shape[0]):
        for j in range(param.shape[1]):
            g = grad[i, j]
            if weight_decay != 0:
                g = g + weight_decay * param[i, j]
            mi = beta1 * m[i, j] + (one - beta1) * g
            vi = beta2 * v[i, j] + (one - beta2) * g * g
            m[i, j] = mi
            v[i, j] = vi
            param[i, j] -= lr * (mi / correction1) / (math.sqrt(vi / correction2) + eps)


def sgd(param, grad, velocity, lr, momentum, weight_decay):
    """p -= lr * v with v = momentum * v + (g + weight_decay * p): torch.optim.SGD, dampening 0."""
    for p2, g2, v2 in row_views(param, grad, velocity):
        _sgd_rows(p2, g2, v2, lr, momentum, weight_decay)


def adam(param, grad, m, v, lr, beta1, beta2, eps, weight_decay, step):
    """Adam (Kingma & Ba 2014, Algorithm 1) with L2 weight decay added to g, as torch.optim.Adam."""
    correction1, correction2 = 1 - beta1**step, 1 - beta2**step
    for p2, g2, m2, v2 in row_views(param, grad, m, v):
        _adam_rows(p2, g2, m2, v2, lr, beta1, beta2, eps, weight_decay, correction1, correction2)
