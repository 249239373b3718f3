"""Activation device functions per dtype: forward act(x) and the backward factor from the saved output y.

Shared by the elementwise kernels, the GEMM epilogue (dense forward) and the δ = dy·act'(y) pass (dense
backward). Constants are typed per dtype (`one = dtype(1)`): a bare `1.0` would promote float32 math to
float64 on the GPU (the compile test greps the PTX for it).
"""

from __future__ import annotations

import math
from functools import cache

from numba import cuda

ACTIVATIONS = ("identity", "sigmoid", "tanh", "relu")


@cache
def device_functions(dtype) -> dict[str, tuple]:
    """{activation: (forward(x), backward(y, dy))} as numba.cuda device functions for numba type `dtype`."""
    zero, one = dtype(0), dtype(1)

    @cuda.jit(device=True)
    def identity(x):
        return x

    @cuda.jit(device=True)
    def identity_backward(y, dy):
        return dy

    @cuda.jit(device=True)
    def sigmoid(x):
        # Two branches so exp() only ever sees -|x| <= 0: no overflow, sigmoid(±1000) is exactly 1 / 0,
        # and NaN takes the second branch (NaN >= 0 is false) and stays NaN.
        e = math.exp(-abs(x))
        return (one if x >= zero else e) / (one + e)

    @cuda.jit(device=True)
    def sigmoid_backward(y, dy):
        return dy * y * (one - y)

    @cuda.jit(device=True)
    def tanh(x):
        return math.tanh(x)

    @cuda.jit(device=True)
    def tanh_backward(y, dy):
        return dy * (one - y * y)

    @cuda.jit(device=True)
    def relu(x):
        return zero if x <= zero else x  # written this way round so NaN propagates, like np.maximum

    @cuda.jit(device=True)
    def relu_backward(y, dy):
        return dy * (one if y > zero else zero)

    return {
        "identity": (identity, identity_backward),
        "sigmoid": (sigmoid, sigmoid_backward),
        "tanh": (tanh, tanh_backward),
        "relu": (relu, relu_backward),
    }
