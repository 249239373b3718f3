"""In-place optimizer updates as grid-stride numba.cuda kernels over flat C-contiguous parameters.

Hyper-parameters arrive as scalars of the parameter's dtype (the backend converts them), so float32
updates never touch float64 arithmetic.
"""

from __future__ import annotations

import math
from functools import cache

from numba import cuda

from mark1.kernels.cuda.dtypes import numba_type


@cache
def build(dtype) -> dict:
    zero, one = dtype(0), dtype(1)

    def sgd(param, grad, velocity, lr, momentum, weight_decay):
        """torch.optim.SGD (dampening 0): g += wd·p; v = momentum·v + g (if momentum); p -= lr·v."""
        for i in range(cuda.grid(1), param.size, cuda.gridsize(1)):
            g = grad[i] + weight_decay * param[i] if weight_decay != zero else grad[i]
            if momentum != zero:
                g = momentum * velocity[i] + g
                velocity[i] = g
            param[i] -= lr * g

    def adam(param, grad, m, v, lr, beta1, beta2, eps, weight_decay, bias1, bias2):
        """Adam (Kingma & Ba 2014, Alg. 1); bias1 = 1 - beta1^t and bias2 = 1 - beta2^t come from the host."""
        for i in range(cuda.grid(1), param.size, cuda.gridsize(1)):
            g = grad[i] + weight_decay * param[i] if weight_decay != zero else grad[i]
            mi = beta1 * m[i] + (one - beta1) * g
            vi = beta2 * v[i] + (one - beta2) * g * g
            m[i] = mi
            v[i] = vi
            param[i] -= lr * (mi / bias1) / (math.sqrt(vi / bias2) + eps)

    return {"sgd": sgd, "adam": adam}


def signatures(t: str) -> dict[str, str]:
    return {
        "sgd": f"void({t}[::1], {t}[::1], {t}[::1], {t}, {t}, {t})",
        "adam": f"void({t}[::1], {t}[::1], {t}[::1], {t}[::1], {', '.join([t] * 7)})",
    }


@cache
def kernels(dtype_name: str) -> dict:
    return {name: cuda.jit(fn) for name, fn in build(numba_type(dtype_name)).items()}
