"""Exact checks on tiny RBMs (n_visible, n_hidden <= 8): every state enumerated, so the partition function, the
log-likelihood, its gradient, the free energy and the pseudo-likelihood are known exactly, and the expected
CD-k update can be computed from the Gibbs chain's transition matrix."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy.special import expit, logsumexp

import mark1 as m1
from mark1 import nn, rbm_ops


def states(n: int) -> np.ndarray:
    return np.array(list(itertools.product((0.0, 1.0), repeat=n)))


def tiny_rbm(rng, n_visible=5, n_hidden=3, scale=1.0):
    return (scale * rng.standard_normal((n_visible, n_hidden)), scale * rng.standard_normal(n_visible),
            scale * rng.standard_normal(n_hidden))


def exact_free_energy(v, w, b, c):
    """-log Σ_h e^{-E(v, h)} by enumerating every hidden state."""
    h = states(w.shape[1])
    neg_energy = (v @ b)[:, None] + (h @ c)[None, :] + v @ w @ h.T   # (rows, 2^n_hidden)
    return -logsumexp(neg_energy, axis=1)


def log_partition(w, b, c):
    v, h = states(w.shape[0]), states(w.shape[1])
    return logsumexp((v @ b)[:, None] + (h @ c)[None, :] + v @ w @ h.T)


def exact_gradient(data, w, b, c):
    """∂ mean log P(data) / ∂(W, b, c) = data statistics minus model statistics (model by enumeration)."""
    v = states(w.shape[0])
    p_v = np.exp(-exact_free_energy(v, w, b, c) - log_partition(w, b, c))
    hd, hm = expit(data @ w + c), expit(v @ w + c)
    grad_w = data.T @ hd / len(data) - (v * p_v[:, None]).T @ hm
    return grad_w, data.mean(0) - p_v @ v, hd.mean(0) - p_v @ hm


def gibbs_transition(w, b, c):
    """T[v, v'] = Σ_h P(h | v) P(v' | h): one visible-to-visible step of the chain CD samples from."""
    v, h = states(w.shape[0]), states(w.shape[1])
    ph = expit(v @ w + c)
    p_h_given_v = np.prod(np.where(h[None] == 1, ph[:, None], 1 - ph[:, None]), axis=2)    # (v, h)
    pv = expit(h @ w.T + b)
    p_v_given_h = np.prod(np.where(v[None] == 1, pv[:, None], 1 - pv[:, None]), axis=2)    # (h, v')
    return p_h_given_v @ p_v_given_h


def expected_cd_gradient(data, w, b, c, k):
    """E[CD-k update] for chains started at the data: the negative phase uses v_k ~ p_data T^k and P(h | v_k)."""
    v = states(w.shape[0])
    index = (data @ (2 ** np.arange(w.shape[0])[::-1])).astype(int)
    p_k = np.bincount(index, minlength=len(v)) / len(data) @ np.linalg.matrix_power(gibbs_transition(w, b, c), k)
    hd, hm = expit(data @ w + c), expit(v @ w + c)
    return data.T @ hd / len(data) - (v * p_k[:, None]).T @ hm, data.mean(0) - p_k @ v, hd.mean(0) - p_k @ hm


@pytest.fixture
def model(rng):
    w, b, c = tiny_rbm(rng)
    return w, b, c, states(5)


def test_free_energy_matches_brute_force(backend, model):
    w, b, c, v = model
    got = rbm_ops.free_energy(*(m1.asarray(a, "float64") for a in (v, w, b, c)))
    np.testing.assert_allclose(m1.to_numpy(got), exact_free_energy(v, w, b, c), rtol=1e-12, atol=1e-12)


def test_free_energies_give_the_partition_function_and_a_normalised_likelihood(backend, model):
    w, b, c, v = model
    fe = m1.to_numpy(rbm_ops.free_energy(*(m1.asarray(a, "float64") for a in (v, w, b, c))))
    log_z = log_partition(w, b, c)
    np.testing.assert_allclose(logsumexp(-fe), log_z, rtol=1e-12)
    assert abs(np.exp(-fe - log_z).sum() - 1) < 1e-12


def test_pseudo_likelihood_matches_its_definition(backend, model):
    w, b, c, v = model
    got = m1.to_numpy(rbm_ops.pseudo_likelihood(*(m1.asarray(a, "float64") for a in (v, w, b, c))))
    fe = exact_free_energy(v, w, b, c)
    expected = np.zeros(len(v))
    for i in range(v.shape[1]):
        flipped = v.copy()
        flipped[:, i] = 1 - flipped[:, i]
        fe_flipped = exact_free_energy(flipped, w, b, c)
        expected += -fe - np.logaddexp(-fe, -fe_flipped)   # log P(v_i | v_-i) = log P(v) / (P(v) + P(flip_i v))
    np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-12)


def test_stable_free_energy_at_huge_pre_activations(backend):
    w = np.array([[800.0, -800.0]])
    got = m1.to_numpy(rbm_ops.free_energy(*(m1.asarray(a, "float32") for a in ([[1.0], [0.0]], w, [0.5], [0.0, 0.0]))))
    np.testing.assert_allclose(got, [-0.5 - 800.0, -2 * np.log(2)], rtol=1e-6)


def test_transform_is_sigmoid_of_v_w_plus_c(backend, model):
    w, b, c, v = model
    rbm = nn.BernoulliRBM(5, 3, dtype="float64", rng=0)
    for p, value in ((rbm.weight, w), (rbm.visible_bias, b), (rbm.hidden_bias, c)):
        p.data = m1.asarray(value, "float64")
    np.testing.assert_allclose(m1.to_numpy(rbm.transform(v)), expit(v @ w + c), rtol=1e-13)
    np.testing.assert_allclose(m1.to_numpy(rbm.score_samples(v)),
                               m1.to_numpy(rbm_ops.pseudo_likelihood(*(m1.asarray(a, "float64")
                                                                        for a in (v, w, b, c)))))


def test_exact_gradient_is_the_derivative_of_the_log_likelihood(rng):
    w, b, c = tiny_rbm(rng, 4, 3)
    data = states(4)[rng.integers(0, 16, 12)]

    def mean_log_likelihood(w, b, c):
        return float(np.mean(-exact_free_energy(data, w, b, c) - log_partition(w, b, c)))

    grad_w, grad_b, grad_c = exact_gradient(data, w, b, c)
    eps = 1e-6
    for i, j in ((0, 0), (3, 2), (1, 1)):
        up, down = w.copy(), w.copy()
        up[i, j] += eps
        down[i, j] -= eps
        numeric = (mean_log_likelihood(up, b, c) - mean_log_likelihood(down, b, c)) / (2 * eps)
        assert abs(numeric - grad_w[i, j]) < 1e-7
    for vec, grad, which in ((b, grad_b, 0), (c, grad_c, 1)):
        up, down = vec.copy(), vec.copy()
        up[0] += eps
        down[0] -= eps
        args_up = (w, up, c) if which == 0 else (w, b, up)
        args_down = (w, down, c) if which == 0 else (w, b, down)
        assert abs((mean_log_likelihood(*args_up) - mean_log_likelihood(*args_down)) / (2 * eps) - grad[0]) < 1e-7


def test_cd_k_expectation_approaches_the_exact_gradient_as_k_grows(rng):
    w, b, c = tiny_rbm(rng, 5, 4, scale=0.7)
    data = states(5)[rng.integers(0, 32, 40)]
    exact = np.concatenate([g.ravel() for g in exact_gradient(data, w, b, c)])
    errors = [np.linalg.norm(np.concatenate([g.ravel() for g in expected_cd_gradient(data, w, b, c, k)]) - exact)
              for k in (1, 2, 5, 10, 100)]
    assert all(later < earlier for earlier, later in zip(errors[:-1], errors[1:-1], strict=False)), errors
    assert errors[0] > 1e-3 and errors[-1] < 1e-10 * np.linalg.norm(exact), errors  # k = 100: rounding only


@pytest.mark.parametrize("name", ["numpy", "numba"])
@pytest.mark.parametrize("k", [1, 3])
def test_the_cd_op_draws_the_expected_cd_k_update(name, k):
    """One CD-k update over N copies of the data (lr 1, no momentum) is the mean of N independent CD-k
    gradients: it must match the exact expectation within Monte-Carlo error."""
    rng = np.random.default_rng(5)
    w, b, c = tiny_rbm(rng, 4, 3, scale=0.8)
    data = states(4)[rng.integers(0, 16, 8)]
    copies = np.tile(data, (4000, 1))
    with m1.backend(name):  # float32 (the dtype the other tests compile): Monte-Carlo error dwarfs its rounding
        params = [m1.asarray(a) for a in (w, b, c)]
        velocity = [m1.asarray(np.zeros_like(a)) for a in (w, b, c)]
        chain = m1.asarray(np.zeros((len(copies), 3)))
        rbm_ops.rbm_epoch(m1.asarray(copies), m1.asarray(np.arange(len(copies)), "int64"), *params,
                          *velocity, chain, seed=11, first_update=0, batch_size=len(copies), k=k, persistent=False,
                          lr=1.0)
        got = [m1.to_numpy(p) - a.astype(np.float32) for p, a in zip(params, (w, b, c), strict=True)]
    for g, e in zip(got, expected_cd_gradient(data, w, b, c, k), strict=True):
        np.testing.assert_allclose(g, e, atol=4 / np.sqrt(len(copies)))
