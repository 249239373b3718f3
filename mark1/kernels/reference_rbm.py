"""The NumPy reference of the restricted Boltzmann machine ops (backends/base.py, "energy-based models").

A Bernoulli RBM (Smolensky 1986; Hinton 2002) has energy E(v, h) = -v·b - h·c - vᵀWh over binary v (n_visible)
and h (n_hidden), so P(h_j = 1 | v) = σ(vW + c)_j, P(v_i = 1 | h) = σ(hWᵀ + b)_i and the free energy
F(v) = -v·b - Σ_j softplus((vW + c)_j) with log P(v) = -F(v) - log Z. Samples compare a Philox uniform
(kernels/philox.py) with the probability, so every backend draws the same units for the same (seed, step).
"""

from __future__ import annotations

import numpy as np

from mark1.kernels import philox
from mark1.kernels.reference import dense_forward


def softplus(x):
    """log(1 + e^x) = max(x, 0) + log1p(e^-|x|): never overflows, exact to the last bit for large |x|."""
    return np.maximum(x, 0) + np.log1p(np.exp(-np.abs(x)))


def philox_uniform(seed, step, out):
    out.reshape(-1)[...] = philox.uniform(seed, step, out.size, out.dtype)


def bernoulli(prob, seed, step, sample):
    """sample = 1 where the uniform of (seed, step, flat index) is below prob, else 0."""
    u = philox.uniform(seed, step, prob.size, prob.dtype).reshape(prob.shape)
    np.less(u, prob, out=sample, casting="unsafe")


def sigmoid_bernoulli(x, w, bias, seed, step, prob, sample):
    """prob = σ(x @ w + bias) and its Bernoulli sample."""
    dense_forward(x, w, bias, "sigmoid", prob)
    bernoulli(prob, seed, step, sample)


def cd_update(w, vbias, hbias, v0, h0, vk, hk, dw, dvb, dhb, lr, momentum, weight_decay):
    """One contrastive-divergence step in place (Hinton 2002; momentum and decay as Hinton's 2010 guide).

    gradient g = (v0ᵀh0 - vkᵀhk) / m for W (positive minus negative statistics), the column means of
    v0 - vk and h0 - hk for the biases; Δ = momentum·Δ + lr·(g - weight_decay·W) (no decay on biases); W += Δ.
    """
    m = v0.shape[0]
    grad_w = (v0.T @ h0 - vk.T @ hk) / m
    dw *= momentum
    dw += lr * (grad_w - weight_decay * w)
    w += dw
    for param, delta, pos, neg in ((vbias, dvb, v0, vk), (hbias, dhb, h0, hk)):
        delta *= momentum
        delta += lr * (pos.sum(axis=0) - neg.sum(axis=0)) / m
        param += delta


def free_energy(v, w, vbias, hbias, out):
    """F(v) = -v·b - Σ_j softplus((vW + c)_j), per row of v."""
    out[...] = -(v @ vbias) - softplus(v @ w + hbias).sum(axis=1)


PLL_ROWS = 256  # rows per chunk: the (rows, n_visible, n_hidden) flip tensor stays a few MB


def pseudo_likelihood(v, w, vbias, hbias, out):
    """Σ_i log P(v_i | v_-i) = Σ_i log σ(F(v with bit i flipped) - F(v)), per row, over every bit i.

    This is what scikit-learn's score_samples estimates from one random flip (times n_visible). Flipping
    bit i changes v·b by (1 - 2v_i) b_i and each pre-activation x_j by (1 - 2v_i) W_ij.
    """
    for lo in range(0, v.shape[0], PLL_ROWS):
        vs = v[lo:lo + PLL_ROWS]
        x = vs @ w + hbias                                   # (rows, hidden)
        sign = 1 - 2 * vs                                    # +1 where a 0 becomes 1, -1 where a 1 becomes 0
        base = softplus(x).sum(axis=1)
        flipped = softplus(x[:, None, :] + sign[:, :, None] * w[None, :, :]).sum(axis=2)
        delta = -sign * vbias - flipped + base[:, None]      # F(flipped) - F(v), (rows, visible)
        out[lo:lo + PLL_ROWS] = -softplus(-delta).sum(axis=1)  # log σ(d) = -softplus(-d)


def draws_per_update(k: int) -> int:
    """Philox steps one CD-k update uses: one for h0 (drawn by CD, skipped by PCD), two per Gibbs step."""
    return 1 + 2 * k


def rbm_epoch(x, order, w, vbias, hbias, dw, dvb, dhb, chain, seed, first_update, batch_size, k, persistent,
              lr, momentum, weight_decay):
    """All CD-k (or PCD-k) updates of one epoch over x[order], in batches of batch_size, in place.

    Update u (counted from first_update) draws from Philox steps u·(1 + 2k) + j: j = 0 samples h0 from the data
    (CD only), j = 1 + 2i and 2 + 2i the visible and hidden samples of Gibbs step i. The positive statistics
    use P(h | v0), the negative ones the last visible sample and P(h | v_k). With persistent=True the chain
    (batch_size, n_hidden) of hidden samples carries over (Tieleman 2008); a short last batch uses its first rows.
    """
    epoch_loop({**OPS, "dense_forward": dense_forward}, np, x, order, w, vbias, hbias, dw, dvb, dhb, chain, seed,
               first_update, batch_size, k, persistent, lr, momentum, weight_decay)


def epoch_loop(ops, xp, x, order, w, vbias, hbias, dw, dvb, dhb, chain, seed, first_update, batch_size, k,
               persistent, lr, momentum, weight_decay):
    """rbm_epoch written over an op table (this file's, or a GPU backend's): one call per phase of each update."""
    n_visible, n_hidden = w.shape
    dtype = w.dtype
    for index, lo in enumerate(range(0, len(order), batch_size)):
        v0 = x[order[lo:lo + batch_size]]
        m = v0.shape[0]
        step = (first_update + index) * draws_per_update(k)
        h0 = xp.empty((m, n_hidden), dtype)
        ops["dense_forward"](v0, w, hbias, "sigmoid", h0)
        if persistent:
            hs = chain[:m].copy()
        else:
            hs = xp.empty((m, n_hidden), dtype)
            ops["bernoulli"](h0, seed, step, hs)
        vs, vp = xp.empty((m, n_visible), dtype), xp.empty((m, n_visible), dtype)
        hp = xp.empty((m, n_hidden), dtype)
        for i in range(k):
            ops["sigmoid_bernoulli"](hs, w.T, vbias, seed, step + 1 + 2 * i, vp, vs)
            ops["sigmoid_bernoulli"](vs, w, hbias, seed, step + 2 + 2 * i, hp, hs)
        ops["cd_update"](w, vbias, hbias, v0, h0, vs, hp, dw, dvb, dhb, lr, momentum, weight_decay)
        if persistent:
            chain[:m] = hs


OPS = {name: globals()[name] for name in (
    "philox_uniform", "bernoulli", "sigmoid_bernoulli", "cd_update", "free_energy", "pseudo_likelihood",
)}
OPS["rbm_epoch"] = rbm_epoch
