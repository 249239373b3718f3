"""The vectorisable float32 exp (kernels/cpu/expmath.py) keeps its stated bound, and the activations built
on it handle the special values: ±inf, ±1000, NaN, subnormal results."""

from __future__ import annotations

import numpy as np
import pytest

from mark1.backends import unavailable_reason

pytestmark = pytest.mark.skipif(unavailable_reason("numba") is not None, reason=f"numba: {unavailable_reason('numba')}")

ULP_BOUND = 2  # stated in exp_f32's docstring


@pytest.fixture(scope="module")
def exp_f32_array():
    from numba import njit

    from mark1.kernels.cpu.expmath import exp_f32

    @njit(fastmath={"contract"}, error_model="numpy")
    def run(x, out):
        for i in range(x.size):
            out[i] = exp_f32(x[i])

    def apply(x):
        out = np.empty_like(x)
        run(x, out)
        return out

    return apply


def _ulp_error(got: np.ndarray, x: np.ndarray) -> np.ndarray:
    exact = np.exp(x.astype(np.float64))
    rounded = exact.astype(np.float32)  # the best float32 answer
    ulp = np.spacing(np.abs(rounded)).astype(np.float64)  # also right in the subnormal range
    return np.abs(got.astype(np.float64) - exact) / ulp


def test_exp_within_stated_ulp_on_dense_sweep(exp_f32_array):
    x = np.linspace(-88, 88, 4_000_001, dtype=np.float32)
    err = _ulp_error(exp_f32_array(x), x)
    assert err.max() <= ULP_BOUND, f"max {err.max():.2f} ulp at x = {x[err.argmax()]!r}"


def test_exp_random_bit_patterns_and_reduction_boundaries(exp_f32_array):
    """4M float32 drawn uniformly by bit pattern from [1e-30, 88] (so tiny inputs are well represented) with
    both signs, plus inputs around each n*ln2/2, where the range reduction switches n."""
    rng = np.random.default_rng(11)
    lo, hi = np.array([1e-30, 88.0], np.float32).view(np.int32)
    x = rng.integers(lo, hi, 1 << 22, dtype=np.int32).view(np.float32)
    x[::2] *= -1
    halves = (np.arange(-127, 128) + 0.5) * np.log(2)
    near = (halves[:, None] + np.linspace(-1e-4, 1e-4, 201)[None, :]).astype(np.float32).ravel()
    x = np.concatenate([x, near[(near > -88) & (near < 88)]])
    err = _ulp_error(exp_f32_array(x), x)
    assert err.max() <= ULP_BOUND, f"max {err.max():.2f} ulp at x = {x[err.argmax()]!r}"


def test_exp_special_values(exp_f32_array):
    x = np.array([np.inf, -np.inf, np.nan, 1000, -1000, 88.8, -104, 0, -0.0], np.float32)
    got = exp_f32_array(x)
    assert got[0] == np.inf and got[1] == 0 and np.isnan(got[2])
    assert got[3] == np.inf and got[4] == 0 and got[5] == np.inf and got[6] == 0
    assert got[7] == 1 and got[8] == 1


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("layout", ["contiguous", "transposed"])
def test_sigmoid_specials_exact(dtype, layout):
    import mark1 as m1

    x = np.array([[1000, -1000, np.inf, -np.inf], [np.nan, 0, 88, -88], [20, -20, 1e-30, -1e-30]], dtype)
    if layout == "transposed":
        x = np.ascontiguousarray(x.T).T
    with m1.backend("numba"):
        y = m1.sigmoid(x)  # pytest turns a RuntimeWarning into an error: none may come out
    assert y[0, 0] == 1 and y[0, 1] == 0 and y[0, 2] == 1 and y[0, 3] == 0
    assert np.isnan(y[1, 0]) and y[1, 1] == 0.5
    expected = 1 / (1 + np.exp(-x[1:].astype(np.float64)))
    # float32 flushes results below 2^-126 to 0 (sigmoid(-88) = 6e-39), hence the tiny atol
    np.testing.assert_allclose(y[1:].astype(np.float64), expected, rtol=4e-7 if dtype == "float32" else 1e-15,
                               atol=1.2e-38 if dtype == "float32" else 0)


def test_sigmoid_large_array_matches_float64():
    """A 2^20 array: the parallel chunked path, compared in full with float64."""
    import mark1 as m1

    x = (np.random.default_rng(3).standard_normal(1 << 20) * 12).astype(np.float32)
    with m1.backend("numba"):
        y = m1.sigmoid(x)
    expected = 1 / (1 + np.exp(-x.astype(np.float64)))
    np.testing.assert_allclose(y, expected, rtol=4e-7, atol=1.2e-38)  # subnormal results flush to 0
