"""The activation epilogue of the fused kernels (GEMM, convolution): out = act(out) over one tile.

A regular (not inlined) kernel, on purpose: it is compiled once per array type and then shared by every
fused kernel that calls it. Inlining `activate` into each caller's loop made every GEMM and conv variant
compile all the activations again (the fused GEMM's epilogue alone took 0.93 s of a first fit's 4.1 s
compile). Its loops are written out rather than calling elementwise's inlined forward_span: that form
compiled 0.35 s slower inside the fused GEMM (first fit 4.7 -> 5.05 s, measured).
"""

from __future__ import annotations

from mark1.kernels.cpu._intrinsics import prefer_full_vector_width
from mark1.kernels.cpu._jit import RELU, SIGMOID, TANH, jit_internal, typed
from mark1.kernels.cpu.expmath import sigmoid_scalar, tanh_scalar


@jit_internal
def activate_block(out, r0, r1, c0, c1, act):
    """out[r0:r1, c0:c1] = act(out[r0:r1, c0:c1]) for a 2-D out with unit-stride rows, row segment by row
    segment; one loop per activation, so each vectorises on its own (a branch on `act` inside one loop
    would not). IDENTITY leaves out as it is. One call per tile: a call per row cost 3% of a 4096x784x128
    dense forward. Callers pass int64 bounds (np.int64(0), not a literal 0, which numba would type as
    Literal[int](0) and compile a second version for)."""
    prefer_full_vector_width()
    for r in range(r0, r1):
        seg = out[r, c0:c1]
        n = seg.shape[0]
        if act == SIGMOID:
            for j in range(n):
                seg[j] = sigmoid_scalar(seg[j])
        elif act == TANH:
            for j in range(n):
                seg[j] = tanh_scalar(seg[j])
        elif act == RELU:
            for j in range(n):
                v = seg[j]
                seg[j] = v if not v < 0 else typed(v, 0)  # `not v < 0` keeps NaN, as np.maximum(v, 0) does
