"""One whole epoch of CD-k / PCD-k in a single numba call: at scikit-learn's batch of 10 the cost of an update
is Python and dispatch overhead, not arithmetic, so the loop over batches runs inside the kernel.

Same algorithm and the same Philox draws as kernels/reference_rbm.rbm_epoch. The products exploit what an RBM
multiplies: every GEMM has a sampled (0/1) or data operand, so rows of W (or of its transposed copy Wt,
refreshed by the update pass) are added only where that operand is non-zero; the inner loops run over
contiguous rows of n_hidden or n_visible values and vectorise. Summation order differs from the GEMM, so
results agree with the reference to rounding, not bit for bit (the draws themselves are identical).
"""

from __future__ import annotations

import numpy as np
from numba import njit, uint64

from mark1.kernels.cpu._jit import JIT, jit_inline, typed
from mark1.kernels.cpu.expmath import sigmoid_scalar
from mark1.kernels.cpu.philox import draw_span
from mark1.kernels.philox import MASK32, S32, keys


@jit_inline
def _nonzero(src, r, idx):
    """Write the columns where src[r] is non-zero into idx and return how many: branch-free (a data-dependent
    branch per entry mispredicts on sampled units, and cost more than the arithmetic it skipped)."""
    n = 0
    for i in range(src.shape[1]):
        idx[n] = i
        n += src[r, i] != 0
    return n


@jit_inline
def _propagate(src, m, weights, bias, out, idx):
    """out[r] = σ(bias + Σ_i src[r, i] · weights[i]) for r < m, over the non-zero entries of src only.

    Plain 2-D indexing throughout: row views and slice assignments here made the loop 5x slower (no
    vectorisation through the views' unknown aliasing).
    """
    n = out.shape[1]
    for r in range(m):
        for j in range(n):
            out[r, j] = bias[j]
        for t in range(_nonzero(src, r, idx)):
            i = idx[t]
            a = src[r, i]
            for j in range(n):
                out[r, j] += a * weights[i, j]
        for j in range(n):
            out[r, j] = sigmoid_scalar(out[r, j])


@jit_inline
def _sample(prob, sample, m, k0, k1, step):
    """Bernoulli draws of Philox step `step` for the first m rows, flat index r·cols + c: the reference's
    layout for an (m, cols) array."""
    n = m * prob.shape[1]
    draw_span(prob.reshape(-1), sample.reshape(-1), 0, n, k0, k1, step & MASK32, step >> S32, True)


@jit_inline
def _accumulate_outer(grad, left, right, r, sign, idx):
    """grad[i] += sign · left[r, i] · right[r] for the non-zero left[r, i]: one row's outer product."""
    for t in range(_nonzero(left, r, idx)):
        i = idx[t]
        a = sign * left[r, i]
        for j in range(right.shape[1]):
            grad[i, j] += a * right[r, j]


@jit_inline
def _column_sums(pos, neg, m, out):
    for j in range(out.size):
        out[j] = 0
    for r in range(m):
        for j in range(out.size):
            out[j] += pos[r, j] - neg[r, j]


@jit_inline
def _update(w, wt, vbias, hbias, dw, dvb, dhb, v0, h0, vs, hp, m, lr, momentum, weight_decay, grad, vgrad,
            hgrad, idx):
    """The CD step: grad = v0ᵀh0 - vsᵀhp row by row of the batch, then one pass over W, Wt and both biases."""
    inv_m = typed(lr, 1) / typed(lr, m)
    n_visible, n_hidden = w.shape
    for i in range(n_visible):
        for j in range(n_hidden):
            grad[i, j] = 0
    one = typed(lr, 1)
    for r in range(m):
        _accumulate_outer(grad, v0, h0, r, one, idx)
        _accumulate_outer(grad, vs, hp, r, -one, idx)
    for i in range(n_visible):
        for j in range(n_hidden):
            d = momentum * dw[i, j] + lr * (grad[i, j] * inv_m - weight_decay * w[i, j])
            dw[i, j] = d
            w[i, j] += d
    _column_sums(v0, vs, m, vgrad)
    _column_sums(h0, hp, m, hgrad)
    for i in range(n_visible):
        d = momentum * dvb[i] + lr * vgrad[i] * inv_m
        dvb[i] = d
        vbias[i] += d
    for j in range(n_hidden):
        d = momentum * dhb[j] + lr * hgrad[j] * inv_m
        dhb[j] = d
        hbias[j] += d
    _transpose(w, wt)


@jit_inline
def _transpose(w, wt):
    """wt = w.T in 8 x 8 tiles (both arrays' lines stay in cache while a tile is copied)."""
    rows, cols = w.shape
    for i0 in range(0, rows, 8):
        for j0 in range(0, cols, 8):
            for i in range(i0, min(i0 + 8, rows)):
                for j in range(j0, min(j0 + 8, cols)):
                    wt[j, i] = w[i, j]


@njit(**JIT)
def _epoch(x, order, w, vbias, hbias, dw, dvb, dhb, chain, k0, k1, first_update, batch_size, k, persistent,
           lr, momentum, weight_decay):
    like = w[0, 0]
    lr, momentum, weight_decay = typed(like, lr), typed(like, momentum), typed(like, weight_decay)
    n_visible, n_hidden = w.shape
    dtype = w.dtype
    v0 = np.empty((batch_size, n_visible), dtype)
    vp = np.empty((batch_size, n_visible), dtype)
    vs = np.empty((batch_size, n_visible), dtype)
    h0 = np.empty((batch_size, n_hidden), dtype)
    hp = np.empty((batch_size, n_hidden), dtype)
    hs = np.empty((batch_size, n_hidden), dtype)
    grad = np.empty((n_visible, n_hidden), dtype)
    vgrad = np.empty(n_visible, dtype)
    hgrad = np.empty(n_hidden, dtype)
    idx = np.empty(max(n_visible, n_hidden), np.int64)
    wt = np.ascontiguousarray(w.T)
    draws = 1 + 2 * k
    n = order.size
    for index in range((n + batch_size - 1) // batch_size):
        lo = index * batch_size
        m = min(batch_size, n - lo)
        step = uint64((first_update + index) * draws)
        for r in range(m):
            v0[r, :] = x[order[lo + r]]
        _propagate(v0, m, w, hbias, h0, idx)
        if persistent:
            hs[:m] = chain[:m]
        else:
            _sample(h0, hs, m, k0, k1, step)
        for g in range(k):
            _propagate(hs, m, wt, vbias, vp, idx)
            _sample(vp, vs, m, k0, k1, step + uint64(1 + 2 * g))
            _propagate(vs, m, w, hbias, hp, idx)
            _sample(hp, hs, m, k0, k1, step + uint64(2 + 2 * g))
        _update(w, wt, vbias, hbias, dw, dvb, dhb, v0, h0, vs, hp, m, lr, momentum, weight_decay, grad, vgrad,
                hgrad, idx)
        if persistent:
            chain[:m] = hs[:m]


def rbm_epoch(x, order, w, vbias, hbias, dw, dvb, dhb, chain, seed, first_update, batch_size, k, persistent,
              lr, momentum, weight_decay):
    """kernels/reference_rbm.rbm_epoch as one compiled loop."""
    k0, k1, _, _ = keys(seed, 0)
    _epoch(x, order, w, vbias, hbias, dw, dvb, dhb, chain, k0, k1, first_update, batch_size, k, bool(persistent),
           float(lr), float(momentum), float(weight_decay))
