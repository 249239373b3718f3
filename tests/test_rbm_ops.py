"""The RBM ops on every backend against float64 oracles written here, at awkward shapes (1, primes, a partial
Philox block) and with transposed views; bad arguments are refused before anything changes."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import expit

import mark1 as m1
from mark1 import rbm_ops
from mark1.kernels import philox
from mark1.kernels import reference_rbm as ref

from oracle import host64, place


@pytest.mark.parametrize("m,n_in,n_out", [(1, 1, 1), (7, 13, 5), (3, 4, 11)])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_sigmoid_bernoulli(backend, rng, m, n_in, n_out, dtype):
    x = (rng.random((m, n_in)) > 0.5).astype(np.float64)
    w, c = rng.standard_normal((n_in, n_out)), rng.standard_normal(n_out)
    for layout in ("contiguous", "transposed"):
        prob, sample = rbm_ops.sigmoid_bernoulli(place(x, layout, dtype), place(w, layout, dtype),
                                                 m1.asarray(c, dtype), seed=3, step=8)
        tol = 1e-6 if dtype == "float32" else 1e-13
        np.testing.assert_allclose(host64(prob), expit(x @ w + c), rtol=tol, atol=tol)
        u = philox.uniform(3, 8, m * n_out, dtype).reshape(m, n_out)
        np.testing.assert_array_equal(m1.to_numpy(sample), (u < m1.to_numpy(prob)).astype(dtype))


def test_sigmoid_bernoulli_with_no_inputs_samples_sigmoid_of_the_bias(backend):
    prob, _ = rbm_ops.sigmoid_bernoulli(m1.asarray(np.zeros((2, 0))), m1.asarray(np.zeros((0, 3))),
                                        m1.asarray([0.0, 100.0, -100.0]), seed=0)
    np.testing.assert_allclose(m1.to_numpy(prob), [[0.5, 1, 0]] * 2, atol=1e-7)


@pytest.mark.parametrize("m,n_visible,n_hidden", [(1, 1, 1), (5, 7, 3), (9, 2, 13)])
def test_cd_update_matches_the_formula(backend, rng, m, n_visible, n_hidden):
    v0, vk = (rng.random((m, n_visible)) > 0.5) * 1.0, (rng.random((m, n_visible)) > 0.5) * 1.0
    h0, hk = rng.random((m, n_hidden)), rng.random((m, n_hidden))
    w, b, c = rng.standard_normal((n_visible, n_hidden)), rng.standard_normal(n_visible), rng.standard_normal(n_hidden)
    dw, db, dc = (rng.standard_normal(a.shape) for a in (w, b, c))
    lr, momentum, decay = 0.3, 0.5, 0.01
    state = [m1.asarray(a.copy(), "float64") for a in (w, b, c, dw, db, dc)]
    rbm_ops.cd_update(*state[:3], *(m1.asarray(a, "float64") for a in (v0, h0, vk, hk)), *state[3:], lr,
                      momentum, decay)
    new_dw = momentum * dw + lr * ((v0.T @ h0 - vk.T @ hk) / m - decay * w)
    new_db = momentum * db + lr * (v0 - vk).mean(0)
    new_dc = momentum * dc + lr * (h0 - hk).mean(0)
    for got, expected in zip(state, (w + new_dw, b + new_db, c + new_dc, new_dw, new_db, new_dc), strict=True):
        np.testing.assert_allclose(host64(got), expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("persistent,k", [(True, 1), (False, 2)])
def test_rbm_epoch_matches_the_reference_loop(backend, rng, persistent, k):
    """7 rows in batches of 3 (a short last batch), momentum and decay: the reference's draws and arithmetic."""
    x = (rng.random((7, 6)) > 0.5).astype(np.float32)
    w, b, c = 0.5 * rng.standard_normal((6, 5)), 0.1 * rng.standard_normal(6), 0.1 * rng.standard_normal(5)
    order = rng.permutation(7).astype(np.int64)
    host = [a.astype(np.float32) for a in (w, b, c, np.zeros_like(w), np.zeros_like(b), np.zeros_like(c),
                                           np.zeros((3, 5)))]
    expected = [a.copy() for a in host]
    options = dict(seed=21, first_update=4, batch_size=3, k=k, persistent=persistent, lr=0.2, momentum=0.5,
                   weight_decay=0.01)
    ref.rbm_epoch(x, order, *expected, **{key: options[key] for key in options})
    state = [m1.asarray(a.copy()) for a in host]
    rbm_ops.rbm_epoch(m1.asarray(x), m1.asarray(order, "int64"), *state, **options)
    for got, want in zip(state, expected, strict=True):
        np.testing.assert_allclose(m1.to_numpy(got), want, rtol=1e-5, atol=1e-6)


def test_free_energy_and_pseudo_likelihood_in_float32_stay_close_to_float64(backend, rng):
    v = (rng.random((6, 13)) > 0.5).astype(np.float64)
    w, b, c = rng.standard_normal((13, 7)), rng.standard_normal(13), rng.standard_normal(7)
    for op in (rbm_ops.free_energy, rbm_ops.pseudo_likelihood):
        exact = host64(op(*(m1.asarray(a, "float64") for a in (v, w, b, c))))
        np.testing.assert_allclose(host64(op(*(m1.asarray(a) for a in (v, w, b, c)))), exact, rtol=2e-5, atol=1e-4)


def test_reference_pseudo_likelihood_is_chunked_exactly(rng, monkeypatch):
    v = (rng.random((10, 4)) > 0.5) * 1.0
    w, b, c = rng.standard_normal((4, 3)), rng.standard_normal(4), rng.standard_normal(3)
    whole, chunked = np.empty(10), np.empty(10)
    ref.pseudo_likelihood(v, w, b, c, whole)
    monkeypatch.setattr(ref, "PLL_ROWS", 3)
    ref.pseudo_likelihood(v, w, b, c, chunked)
    np.testing.assert_allclose(chunked, whole, rtol=1e-14)


def test_bad_arguments_are_refused_and_change_nothing(backend):
    w, b, c = (m1.asarray(np.ones(s)) for s in ((3, 2), (3,), (2,)))
    snapshot = [m1.to_numpy(a).copy() for a in (w, b, c)]
    with pytest.raises(ValueError, match="do not fit"):
        rbm_ops.free_energy(m1.asarray(np.ones((4, 5))), w, b, c)
    with pytest.raises(ValueError, match="chain.shape"):
        rbm_ops.rbm_epoch(m1.asarray(np.ones((4, 3))), m1.asarray(np.arange(4), "int64"), w, b, c,
                          *(m1.asarray(np.zeros(s)) for s in ((3, 2), (3,), (2,), (5, 2))), seed=0, first_update=0,
                          batch_size=2)
    with pytest.raises(TypeError, match="int64"):
        rbm_ops.rbm_epoch(m1.asarray(np.ones((4, 3))), m1.asarray(np.arange(4)), w, b, c,
                          *(m1.asarray(np.zeros(s)) for s in ((3, 2), (3,), (2,), (2, 2))), seed=0, first_update=0,
                          batch_size=2)
    with pytest.raises(TypeError, match="mixed dtypes"):
        rbm_ops.sigmoid_bernoulli(m1.asarray(np.ones((1, 3)), "float64"), w, c, seed=0)
    assert all(np.array_equal(m1.to_numpy(a), s) for a, s in zip((w, b, c), snapshot, strict=True))
