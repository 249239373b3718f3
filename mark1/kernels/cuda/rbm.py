"""numba.cuda kernels of the RBM ops: Philox draws and Bernoulli samples, free energy, pseudo-likelihood terms
and the in-place CD update. The GEMMs (x @ w + bias with the sigmoid epilogue, v0ᵀh0 and vkᵀhk) are the
backend's own GEMM kernels; these kernels run the passes around them.

Philox is kernels/philox.py's function compiled as a device function: one thread evaluates one counter block
and writes its four float32 (two float64) draws, so the bits match the NumPy reference exactly.
"""

from __future__ import annotations

import math
from functools import cache

from numba import cuda, uint64

from mark1.kernels import philox as reference
from mark1.kernels.cuda.dtypes import numba_type
from mark1.kernels.philox import F32_SCALE, F64_SCALE, MASK32, S5, S6, S8, S26, S32


@cache
def _philox():
    return cuda.jit(device=True)(reference.philox4x32_10)


@cache
def build(dtype) -> dict:
    """Kernel functions for numba type `dtype` (compile_ptx-able), keyed by name."""
    zero, one = dtype(0), dtype(1)
    wide = dtype.bitwidth == 64
    per = 2 if wide else 4
    philox = _philox()

    @cuda.jit(device=True)
    def put(prob, out, e, u, compare):
        if e < out.size:
            if compare:
                out[e] = one if u < prob[e] else zero
            else:
                out[e] = u

    def draw(prob, out, k0, k1, s0, s1, compare):
        """out[e] = uniform (seed, step, e), or 1 where it is below prob[e] (compare); one thread per block."""
        blocks = (out.size + per - 1) // per
        for block in range(cuda.grid(1), blocks, cuda.gridsize(1)):
            b = uint64(block)
            x0, x1, x2, x3 = philox(b & MASK32, b >> S32, s0, s1, k0, k1)
            e = block * per
            if wide:
                put(prob, out, e, dtype(((x0 >> S5) << S26) + (x1 >> S6)) * F64_SCALE, compare)
                put(prob, out, e + 1, dtype(((x2 >> S5) << S26) + (x3 >> S6)) * F64_SCALE, compare)
            else:
                put(prob, out, e, dtype(x0 >> S8) * F32_SCALE, compare)
                put(prob, out, e + 1, dtype(x1 >> S8) * F32_SCALE, compare)
                put(prob, out, e + 2, dtype(x2 >> S8) * F32_SCALE, compare)
                put(prob, out, e + 3, dtype(x3 >> S8) * F32_SCALE, compare)

    @cuda.jit(device=True)
    def softplus(x):
        return max(x, zero) + math.log1p(math.exp(-abs(x)))

    def free_energy(v, pre, vbias, out):
        """out[r] = -v[r]·b - Σ_j softplus(pre[r, j]), with pre = v W + c from the GEMM; one thread per row."""
        for r in range(cuda.grid(1), out.size, cuda.gridsize(1)):
            acc = zero
            for i in range(v.shape[1]):
                acc -= v[r, i] * vbias[i]
            for j in range(pre.shape[1]):
                acc -= softplus(pre[r, j])
            out[r] = acc

    def pll_terms(v, pre, w, vbias, terms):
        """terms[i, r] = log σ(F(v_r with bit i flipped) - F(v_r)); one thread per (bit, row). Bits along dim 0,
        so the stacked-sum kernel (stacked_sum.py) adds them up per row."""
        rows = v.shape[0]
        for t in range(cuda.grid(1), terms.size, cuda.gridsize(1)):
            i, r = t // rows, t % rows
            sign = one - dtype(2) * v[r, i]
            delta = -sign * vbias[i]
            for j in range(pre.shape[1]):
                delta += softplus(pre[r, j]) - softplus(pre[r, j] + sign * w[i, j])
            terms[i, r] = -softplus(-delta)

    def cd_weights(w, pos, neg, dw, inv_m, lr, momentum, weight_decay):
        """Δ = momentum·Δ + lr·((pos - neg)/m - wd·W); W += Δ, over flat arrays."""
        for i in range(cuda.grid(1), w.size, cuda.gridsize(1)):
            d = momentum * dw[i] + lr * ((pos[i] - neg[i]) * inv_m - weight_decay * w[i])
            dw[i] = d
            w[i] += d

    def cd_bias(param, positive, negative, delta, inv_m, lr, momentum):
        """Δ = momentum·Δ + lr·mean(positive - negative, axis 0); param += Δ; one thread per column."""
        for c in range(cuda.grid(1), param.size, cuda.gridsize(1)):
            acc = zero
            for r in range(positive.shape[0]):
                acc += positive[r, c] - negative[r, c]
            d = momentum * delta[c] + lr * acc * inv_m
            delta[c] = d
            param[c] += d

    return {"draw": draw, "free_energy": free_energy, "pll_terms": pll_terms, "cd_weights": cd_weights,
            "cd_bias": cd_bias}


def signatures(t: str) -> dict[str, str]:
    """numba signatures of build()'s kernels for element type name `t` (used by the compile test)."""
    m2 = f"{t}[:, :]"
    return {
        "draw": f"void({t}[::1], {t}[::1], uint64, uint64, uint64, uint64, boolean)",
        "free_energy": f"void({m2}, {m2}, {t}[::1], {t}[::1])",
        "pll_terms": f"void({m2}, {m2}, {m2}, {t}[::1], {t}[:, ::1])",
        "cd_weights": f"void({t}[::1], {t}[::1], {t}[::1], {t}[::1], {t}, {t}, {t}, {t})",
        "cd_bias": f"void({t}[::1], {m2}, {m2}, {t}[::1], {t}, {t}, {t})",
    }


@cache
def kernels(dtype_name: str) -> dict:
    return {name: cuda.jit(fn) for name, fn in build(numba_type(dtype_name)).items()}
