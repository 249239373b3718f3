"""Elementwise numba.cuda kernels: sigmoid / tanh / relu forward and backward as grid-stride loops.

All operands are 1-D C-contiguous (the backend flattens; a non-contiguous input is copied first), so
the loop body is one load per operand and one store, and the kernel runs at memory bandwidth.
"""

from __future__ import annotations

from functools import cache

from numba import cuda

from mark1.kernels.cuda.activations import device_functions
from mark1.kernels.cuda.dtypes import numba_type

FORWARD = ("sigmoid", "tanh", "relu")
BACKWARD = ("sigmoid_backward", "tanh_backward", "relu_backward")


def _unary(f):
    def kernel(x, out):
        for i in range(cuda.grid(1), out.size, cuda.gridsize(1)):
            out[i] = f(x[i])

    return kernel


def _binary(f):
    def kernel(y, dy, out):
        for i in range(cuda.grid(1), out.size, cuda.gridsize(1)):
            out[i] = f(y[i], dy[i])

    return kernel


@cache
def build(dtype) -> dict:
    """Plain kernel functions for numba type `dtype` (compile_ptx-able), keyed by op name."""
    acts = device_functions(dtype)
    kernels = {name: _unary(acts[name][0]) for name in FORWARD}
    kernels.update({name: _binary(acts[name.removesuffix("_backward")][1]) for name in BACKWARD})
    return kernels


def signatures(t: str) -> dict[str, str]:
    """numba signatures of build()'s kernels for element type name `t` (used by the compile test)."""
    sigs = {name: f"void({t}[::1], {t}[::1])" for name in FORWARD}
    sigs.update({name: f"void({t}[::1], {t}[::1], {t}[::1])" for name in BACKWARD})
    return sigs


@cache
def kernels(dtype_name: str) -> dict:
    return {name: cuda.jit(fn) for name, fn in build(numba_type(dtype_name)).items()}
