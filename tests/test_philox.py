"""The counter-based generator: Philox4x32-10 known answers (Random123's kat_vectors), the same bits on every
backend, and the statistics a sampler needs (means within 4σ over 10^6 draws, no correlation between
neighbouring elements, steps or seeds beyond chance)."""

from __future__ import annotations

import numpy as np
import pytest

import mark1 as m1
from mark1 import rbm_ops
from mark1.kernels import philox

# Random123 kat_vectors: counter (4 words), key (2 words) -> output (4 words)
KNOWN_ANSWERS = [
    ((0, 0, 0, 0), (0, 0), (0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8)),
    ((0xFFFFFFFF,) * 4, (0xFFFFFFFF,) * 2, (0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD)),
    ((0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344), (0xA4093822, 0x299F31D0),
     (0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1)),
]
N = 10**6


@pytest.mark.parametrize("counter,key,expected", KNOWN_ANSWERS)
def test_philox4x32_10_known_answers(counter, key, expected):
    words = philox.philox4x32_10(*(np.uint64(c) for c in counter), *(np.uint64(k) for k in key))
    assert tuple(int(w) for w in words) == expected


def test_known_answers_vectorised_over_numpy_arrays():
    counters = np.array([kat[0] for kat in KNOWN_ANSWERS], dtype=np.uint64).T
    keys = np.array([kat[1] for kat in KNOWN_ANSWERS], dtype=np.uint64).T
    words = philox.philox4x32_10(*counters, *keys)
    np.testing.assert_array_equal(np.stack(words, axis=1), np.array([kat[2] for kat in KNOWN_ANSWERS]))


@pytest.mark.parametrize("dtype,shape", [(d, s) for d in ("float32", "float64") for s in ((1,), (3,), (5,), (2, 7))]
                         + [("float32", (4099,))])  # past one CPU task: the parallel kernel (compiled for one dtype)
def test_every_backend_draws_the_reference_bits(backend, dtype, shape):
    seed, step = 2**40 + 17, 2**33 + 5  # both words of key and step in use
    u = m1.to_numpy(rbm_ops.philox_uniform(shape, seed, step, dtype))
    assert u.dtype == dtype and u.shape == shape
    np.testing.assert_array_equal(u.reshape(-1), philox.uniform(seed, step, int(np.prod(shape)), dtype))


def test_bernoulli_is_the_uniform_below_prob_bit_for_bit(backend, rng):
    prob = rng.random((6, 11)).astype(np.float32)
    sample = m1.to_numpy(rbm_ops.bernoulli(m1.asarray(prob), 9, 4))
    expected = philox.uniform(9, 4, prob.size).reshape(prob.shape) < prob
    np.testing.assert_array_equal(sample, expected.astype(np.float32))


def test_uniforms_are_exact_grid_points_in_the_unit_interval():
    u32, u64 = philox.uniform(1, 0, N, "float32"), philox.uniform(1, 0, N, "float64")
    assert 0 <= u32.min() and u32.max() < 1 and 0 <= u64.min() and u64.max() < 1
    assert np.all((u32 * 2**24) % 1 == 0) and np.all((u64 * 2**53) % 1 == 0)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_moments_within_four_sigma_over_a_million_draws(dtype):
    u = philox.uniform(12345, 7, N, dtype).astype(np.float64)
    # U(0, 1): mean 1/2 (sd of the mean 1/sqrt(12 N)), E[u^2] = 1/3 (sd sqrt(4/45 / N))
    assert abs(u.mean() - 0.5) < 4 / np.sqrt(12 * N)
    assert abs((u * u).mean() - 1 / 3) < 4 * np.sqrt(4 / 45 / N)
    counts = np.bincount((u * 16).astype(int), minlength=16)  # 16 equal bins: chi-square, 15 dof
    chi2 = ((counts - N / 16) ** 2 / (N / 16)).sum()
    assert chi2 < 15 + 4 * np.sqrt(2 * 15)


def _correlation(a, b):
    return float(np.corrcoef(a.astype(np.float64), b.astype(np.float64))[0, 1])


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_no_correlation_between_neighbouring_elements_steps_or_seeds(dtype):
    limit = 4 / np.sqrt(N)  # a correlation of independent draws has sd 1/sqrt(N)
    u = philox.uniform(3, 0, N + 4, dtype)
    for lag in (1, 2, 3, 4):  # lags inside one Philox block and across blocks
        assert abs(_correlation(u[:N], u[lag:N + lag])) < limit, lag
    assert abs(_correlation(u[:N], philox.uniform(3, 1, N, dtype))) < limit
    assert abs(_correlation(u[:N], philox.uniform(4, 0, N, dtype))) < limit


def test_bernoulli_mean_matches_prob():
    with m1.backend("numpy"):
        sample = m1.to_numpy(rbm_ops.bernoulli(m1.asarray(np.full(N, 0.3)), 5, 0))
    assert abs(sample.mean() - 0.3) < 4 * np.sqrt(0.3 * 0.7 / N)


@pytest.mark.parametrize("seed,step", [(-1, 0), (0, 2**64), (1.5, 0)])
def test_bad_keys_are_refused(seed, step):
    with pytest.raises((ValueError, TypeError), match="seed|step"):
        rbm_ops.philox_uniform(4, seed, step)
