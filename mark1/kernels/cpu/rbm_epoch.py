"""One whole epoch of CD-k / PCD-k in a single numba call: at scikit-learn's batch of 10 the cost of an update
is Python and dispatch overhead, not arithmetic, so the loop over batches runs inside the kernel.

Same algorithm and the same Philox draws as kernels/reference_rbm.rbm_epoch. The products exploit what an RBM
multiplies: every GEMM has a sampled (0/1) or data operand, so rows of W (or of its transposed copy Wt,
refreshed by the update pass) are added only where that operand is non-zero; the inner loops run over
contiguous rows of n_hidden or n_visible values and vectorise. Summation order differs from the GEMM, so
results agree with the reference to rounding, not bit for bit (the draws themselves are identical).

Compiled twice from one source: on the calling thread, and with its loops over batch rows, blocks of W's rows
and spans of draws as numba prange regions (about ten per update), for updates large enough to pay for them
(params.rbm_parallel_work). Each row and block is computed the same way whichever thread runs it, so both
give the same bits. 784 x 500 at batch 100 on 2 vCPUs: 4.2 -> 2.1-2.4 ms per update (NumPy's step 2.3).
"""

from __future__ import annotations

import numba
import numpy as np
from numba import get_thread_id, njit, prange, uint64

from mark1.kernels.cpu._jit import JIT, PerDtype, jit_inline, renamed, typed
from mark1.kernels.cpu.expmath import sigmoid_scalar
from mark1.kernels.cpu.params import PARAMS
from mark1.kernels.cpu.philox import draw_spans
from mark1.kernels.philox import MASK32, S32, keys
from mark1.threads import kernel_threads

ROWS = 16   # rows of W per block of the update: 16 rows of dw (32 KB at 500 hidden units) stay in L1
SPAN = 64   # columns per parallel span of the bias sums
PARALLEL_WORK = PARAMS.rbm_parallel_work
THREAD_ROWS = numba.config.NUMBA_NUM_THREADS  # get_thread_id() is below the pool's size


@jit_inline
def _nonzero(src, r, lo, hi, idx):
    """Write the columns c in [lo, hi) where src[r, c] is non-zero into idx and return how many: branch-free
    (a data-dependent branch per entry mispredicts on sampled units, and cost more than the work it skipped)."""
    n = 0
    for c in range(lo, hi):
        idx[n] = c
        n += src[r, c] != 0
    return n


@jit_inline
def _propagate(src, m, weights, bias, out, idx):
    """out[r] = σ(bias + Σ_i src[r, i] · weights[i]) for r < m, over the non-zero entries of src only; rows
    in parallel (idx: one scratch row per thread).

    Four rows of weights per pass over out[r]: a quarter of the loads and stores of out per multiply-add
    (784 x 500 at batch 100 on two threads, 50% of units on: 645 us one row at a time, 531 two, 465 four,
    460 eight). Plain 2-D indexing throughout: row views and slice assignments here made the loop 5x slower
    (no vectorisation through the views' unknown aliasing).
    """
    n = out.shape[1]
    for r in prange(m):
        scratch = idx[get_thread_id()]
        for j in range(n):
            out[r, j] = bias[j]
        count = _nonzero(src, r, 0, src.shape[1], scratch)
        t = 0
        while t + 4 <= count:
            i0, i1, i2, i3 = scratch[t], scratch[t + 1], scratch[t + 2], scratch[t + 3]
            a0, a1, a2, a3 = src[r, i0], src[r, i1], src[r, i2], src[r, i3]
            for j in range(n):
                out[r, j] = (((out[r, j] + a0 * weights[i0, j]) + a1 * weights[i1, j]) + a2 * weights[i2, j]) \
                    + a3 * weights[i3, j]
            t += 4
        for u in range(t, count):
            i0 = scratch[u]
            a0 = src[r, i0]
            for j in range(n):
                out[r, j] += a0 * weights[i0, j]
        for j in range(n):
            out[r, j] = sigmoid_scalar(out[r, j])


@jit_inline
def _sample(prob, sample, m, k0, k1, step):
    """Bernoulli draws of Philox step `step` for the first m rows, flat index r·cols + c (the reference's
    layout for an (m, cols) array), in spans of whole Philox blocks, in parallel."""
    draw_spans(prob.reshape(-1), sample.reshape(-1), m * prob.shape[1], k0, k1, step & MASK32, step >> S32, True)


@jit_inline
def _column_sums(pos, neg, m, out):
    """out[j] = Σ_r pos[r, j] - neg[r, j], in parallel over spans of columns (each span's sums vectorise)."""
    cols = out.size
    for span in prange((cols + SPAN - 1) // SPAN):
        lo, hi = span * SPAN, min(cols, (span + 1) * SPAN)
        for j in range(lo, hi):
            out[j] = 0
        for r in range(m):
            for j in range(lo, hi):
                out[j] += pos[r, j] - neg[r, j]


@jit_inline
def _accumulate_outer(dw, left, right, r, lo, hi, scale, scratch):
    """dw[i] += scale · left[r, i] · right[r] for the rows lo <= i < hi where left[r, i] is non-zero: one
    batch row's outer product, restricted to a block of W's rows."""
    for t in range(_nonzero(left, r, lo, hi, scratch)):
        i = scratch[t]
        a = scale * left[r, i]
        for j in range(right.shape[1]):
            dw[i, j] += a * right[r, j]


@jit_inline
def _update(w, wt, vbias, hbias, dw, dvb, dhb, v0, h0, vs, hp, m, lr, momentum, weight_decay, vgrad, hgrad, idx):
    """The CD step, one block of ROWS rows of W at a time (blocks in parallel): dw = momentum·dw + lr·(v0ᵀh0 -
    vsᵀhp)/m - lr·decay·W, W += dw, and the block's columns of Wt, while the block's rows of dw stay in L1.

    The positive and negative statistics are added straight into dw (no gradient array: 1.5 MB less written
    and read per update at 784 x 500), each row of the batch contributing only where v0 or vs is non-zero.
    """
    scale = lr * (typed(lr, 1) / typed(lr, m))
    decay = lr * weight_decay
    n_visible, n_hidden = w.shape
    for block in prange((n_visible + ROWS - 1) // ROWS):
        lo, hi = block * ROWS, min(n_visible, (block + 1) * ROWS)
        scratch = idx[get_thread_id()]
        for i in range(lo, hi):
            for j in range(n_hidden):
                dw[i, j] = momentum * dw[i, j] - decay * w[i, j]
        for r in range(m):
            _accumulate_outer(dw, v0, h0, r, lo, hi, scale, scratch)
            _accumulate_outer(dw, vs, hp, r, lo, hi, -scale, scratch)
        for i in range(lo, hi):
            for j in range(n_hidden):
                w[i, j] += dw[i, j]
        _transpose_rows(w, wt, lo, hi)
    _column_sums(v0, vs, m, vgrad)
    _column_sums(h0, hp, m, hgrad)
    for i in range(n_visible):
        d = momentum * dvb[i] + scale * vgrad[i]
        dvb[i] = d
        vbias[i] += d
    for j in range(n_hidden):
        d = momentum * dhb[j] + scale * hgrad[j]
        dhb[j] = d
        hbias[j] += d


@jit_inline
def _transpose_rows(w, wt, lo, hi):
    """wt[:, lo:hi] = w[lo:hi].T, in tiles of the block's rows x 8 columns (both arrays' lines stay in cache)."""
    cols = w.shape[1]
    for j0 in range(0, cols, 8):
        for i in range(lo, hi):
            for j in range(j0, min(j0 + 8, cols)):
                wt[j, i] = w[i, j]


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
    vgrad = np.empty(n_visible, dtype)
    hgrad = np.empty(n_hidden, dtype)
    idx = np.empty((THREAD_ROWS, max(n_visible, n_hidden)), np.int64)  # _nonzero's scratch, per thread
    wt = np.empty((n_hidden, n_visible), dtype)
    for block in prange((n_visible + ROWS - 1) // ROWS):
        _transpose_rows(w, wt, block * ROWS, min(n_visible, (block + 1) * ROWS))
    draws = 1 + 2 * k
    n = order.size
    for index in range((n + batch_size - 1) // batch_size):
        lo = index * batch_size
        m = min(batch_size, n - lo)
        step = uint64((first_update + index) * draws)
        for r in prange(m):
            for c in range(n_visible):
                v0[r, c] = x[order[lo + r], c]
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
        _update(w, wt, vbias, hbias, dw, dvb, dhb, v0, h0, vs, hp, m, lr, momentum, weight_decay, vgrad, hgrad,
                idx)
        if persistent:
            chain[:m] = hs[:m]


_epoch_parallel = njit(**JIT, parallel=True)(_epoch)
_epoch_serial = njit(**JIT)(renamed(_epoch, "_serial"))


def rbm_epoch(x, order, w, vbias, hbias, dw, dvb, dhb, chain, seed, first_update, batch_size, k, persistent,
              lr, momentum, weight_decay):
    """kernels/reference_rbm.rbm_epoch as one compiled loop: on numba's threads when a batch's products are
    large enough to pay for their parallel regions (params.rbm_parallel_work), else on this thread."""
    k0, k1, _, _ = keys(seed, 0)
    work = (min(batch_size, order.size) + 8) * w.shape[0] * w.shape[1]
    threaded = kernel_threads() > 1 and (work >= PARALLEL_WORK or PerDtype.always_threaded)
    kernel = _epoch_parallel if threaded else _epoch_serial
    kernel(x, order, w, vbias, hbias, dw, dvb, dhb, chain, k0, k1, first_update, batch_size, k, bool(persistent),
           float(lr), float(momentum), float(weight_decay))
