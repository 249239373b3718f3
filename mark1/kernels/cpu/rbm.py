"""The numba RBM ops (backends/base.py, "energy-based models"): sampling after the fused dense GEMM, the CD update,
free energy and the exact pseudo-likelihood. The whole-epoch kernel lives in rbm_epoch.py.

Formulas as in kernels/reference_rbm.py; draws from cpu/philox.py (bit-identical to the reference uniforms).
"""

from __future__ import annotations

import math

import numpy as np
from numba import float64, prange

from mark1.kernels.cpu._jit import jit_inline, per_dtype, readonly, typed
from mark1.kernels.cpu.dense import dense_forward, matmul
from mark1.kernels.cpu.expmath import exp_nonpositive_f32
from mark1.kernels.cpu.philox import bernoulli, philox_uniform
from mark1.kernels.cpu.rbm_epoch import rbm_epoch

# log1p(t) = 2·atanh(s), s = t / (2 + t) in [0, 1/3] for t in [0, 1]: the odd series to s^13 is within 2e-7
# relative (float32 rounding is 6e-8). Straight-line float32 arithmetic, so loops over it vectorise.
A3, A5, A7, A9, A11, A13 = (np.float32(2.0 / k) for k in (3, 5, 7, 9, 11, 13))  # scalars: a global tuple
# indexed in the loop kept LLVM from vectorising it (8x slower)


@jit_inline
def _log1p_unit_f32(t):
    s = t / (np.float32(2.0) + t)
    s2 = s * s
    q = A13
    q = q * s2 + A11
    q = q * s2 + A9
    q = q * s2 + A7
    q = q * s2 + A5
    q = q * s2 + A3
    return s * (np.float32(2.0) + s2 * q)


@jit_inline
def softplus(x):
    """log(1 + e^x) without overflow: max(x, 0) + log1p(e^-|x|); vectorisable arithmetic for float32."""
    zero = typed(x, 0)
    if isinstance(x, np.float32):
        tail = _log1p_unit_f32(exp_nonpositive_f32(-abs(x)))
    else:
        tail = math.log1p(math.exp(-abs(x)))
    return (x if x > zero else zero) + tail


def sigmoid_bernoulli(x, w, bias, seed, step, prob, sample):
    """prob = σ(x @ w + bias) in the GEMM's epilogue, then one pass that draws the sample."""
    dense_forward(x, w, bias, "sigmoid", prob)
    bernoulli(prob, seed, step, sample)


@per_dtype(lambda t: (t[:, :], readonly(t, 2, "C"), readonly(t, 2, "C"), t[:, :], float64, float64, float64,
                      float64), parallel=True, serial_below=1 << 14)
def _cd_weights(w, pos, neg, dw, inv_m, lr, momentum, weight_decay):
    like = w[0, 0]
    inv_m, lr, momentum, weight_decay = typed(like, inv_m), typed(like, lr), typed(like, momentum), \
        typed(like, weight_decay)
    for i in prange(w.shape[0]):
        for j in range(w.shape[1]):
            d = momentum * dw[i, j] + lr * ((pos[i, j] - neg[i, j]) * inv_m - weight_decay * w[i, j])
            dw[i, j] = d
            w[i, j] += d


@per_dtype(lambda t: (t[::1], readonly(t, 2), readonly(t, 2), t[::1], float64, float64, float64))
def _cd_bias(param, positive, negative, delta, inv_m, lr, momentum):
    like = param[0]
    inv_m, lr, momentum = typed(like, inv_m), typed(like, lr), typed(like, momentum)
    acc = np.zeros(param.size, param.dtype)
    for r in range(positive.shape[0]):
        for c in range(param.size):
            acc[c] += positive[r, c] - negative[r, c]
    for c in range(param.size):
        d = momentum * delta[c] + lr * acc[c] * inv_m
        delta[c] = d
        param[c] += d


def cd_update(w, vbias, hbias, v0, h0, vk, hk, dw, dvb, dhb, lr, momentum, weight_decay):
    """The two statistics GEMMs, then one pass over W (momentum, decay, step) and one per bias."""
    pos = np.empty(w.shape, w.dtype)
    neg = np.empty(w.shape, w.dtype)
    matmul(v0.T, h0, pos)
    matmul(vk.T, hk, neg)
    inv_m = 1.0 / v0.shape[0]
    _cd_weights(w, pos, neg, dw, inv_m, lr, momentum, weight_decay)
    _cd_bias(vbias, v0, vk, dvb, inv_m, lr, momentum)
    _cd_bias(hbias, h0, hk, dhb, inv_m, lr, momentum)


@per_dtype(lambda t: (readonly(t, 2), readonly(t, 2, "C"), readonly(t, 1), t[::1]), parallel=True,
           serial_below=256)
def _free_energy_rows(v, pre, vbias, out):
    for r in prange(out.size):
        acc = typed(out[0], 0)
        for i in range(v.shape[1]):
            acc -= v[r, i] * vbias[i]
        for j in range(pre.shape[1]):
            acc -= softplus(pre[r, j])
        out[r] = acc


def _pre_activation(v, w, hbias):
    pre = np.empty((v.shape[0], w.shape[1]), w.dtype)
    dense_forward(v, w, hbias, "identity", pre)
    return pre


def free_energy(v, w, vbias, hbias, out):
    _free_energy_rows(v, _pre_activation(v, w, hbias), vbias, out)


@per_dtype(lambda t: (readonly(t, 2), readonly(t, 2, "C"), readonly(t, 2, "C"), readonly(t, 1), t[::1]), parallel=True,
           serial_below=16)
def _pll_rows(v, pre, wt, vbias, out):
    """Per row: flipped[i] = Σ_j softplus(pre_j + sign_i W_ij) accumulated j by j over all bits i at once (the
    loop over i is a map into flipped, which vectorises; a sum over j per bit would be a serial reduction)."""
    n_hidden, n_visible = wt.shape
    for r in prange(out.size):
        one, zero = typed(out[0], 1), typed(out[0], 0)
        sign = np.empty(n_visible, out.dtype)
        flipped = np.zeros(n_visible, out.dtype)
        for i in range(n_visible):
            sign[i] = one - typed(out[0], 2) * v[r, i]
        base = zero
        for j in range(n_hidden):
            p = pre[r, j]
            base += softplus(p)
            for i in range(n_visible):
                flipped[i] += softplus(p + sign[i] * wt[j, i])
        total = zero
        for i in range(n_visible):
            total -= softplus(sign[i] * vbias[i] + flipped[i] - base)  # log σ(d) = -softplus(-d)
        out[r] = total


def pseudo_likelihood(v, w, vbias, hbias, out):
    """Σ_i log σ(F(v with bit i flipped) - F(v)) per row, exactly over every bit (one parallel pass over rows)."""
    _pll_rows(v, _pre_activation(v, w, hbias), np.ascontiguousarray(w.T), vbias, out)


OPS = {
    "philox_uniform": philox_uniform, "bernoulli": bernoulli, "sigmoid_bernoulli": sigmoid_bernoulli,
    "cd_update": cd_update, "free_energy": free_energy, "pseudo_likelihood": pseudo_likelihood,
    "rbm_epoch": rbm_epoch,
}
