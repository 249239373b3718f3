"""The vectorisable float32 exp and tanh (kernels/cpu/expmath.py) keep their stated bounds, the activations
built on them handle the special values (±inf, ±1000, NaN, ±0, subnormal results), and the elementwise loops
compile to packed vector code with no libm call and no float64 in a float32 loop."""

from __future__ import annotations

import re

import numpy as np
import pytest

from mark1.backends import unavailable_reason

pytestmark = pytest.mark.skipif(unavailable_reason("numba") is not None, reason=f"numba: {unavailable_reason('numba')}")

ULP_BOUND = 2  # stated in exp_f32's docstring
TANH_ULP_BOUND = 5  # stated in tanh_f32's docstring


def _array_version(scalar):
    """scalar(x) applied to every element of a float32 array, compiled by numba (uncached, own loop)."""
    from numba import njit

    @njit(fastmath={"contract"}, error_model="numpy")
    def run(x, out):
        for i in range(x.size):
            out[i] = scalar(x[i])

    def apply(x):
        out = np.empty_like(x)
        run(x, out)
        return out

    return apply


@pytest.fixture(scope="module")
def exp_f32_array():
    from mark1.kernels.cpu.expmath import exp_f32

    return _array_version(exp_f32)


@pytest.fixture(scope="module")
def tanh_f32_array():
    from mark1.kernels.cpu.expmath import tanh_f32

    return _array_version(tanh_f32)


def _ulp_error(got: np.ndarray, x: np.ndarray, f=np.exp) -> np.ndarray:
    exact = f(x.astype(np.float64))
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


def test_tanh_within_stated_ulp(tanh_f32_array):
    """A dense sweep of [-12, 12], 4M float32 drawn by bit pattern from ±[1e-30, 50], and the inputs around
    the clamp at ±9.1 (where float32 tanh has just become ±1)."""
    rng = np.random.default_rng(12)
    lo, hi = np.array([1e-30, 50.0], np.float32).view(np.int32)
    drawn = rng.integers(lo, hi, 1 << 22, dtype=np.int32).view(np.float32)
    drawn[::2] *= -1
    switch = np.float32(9.1) + np.linspace(-0.2, 1e-3, 20001).astype(np.float32)
    x = np.concatenate([np.linspace(-12, 12, 2_000_001, dtype=np.float32), drawn, switch, -switch])
    err = _ulp_error(tanh_f32_array(x), x, np.tanh)
    assert err.max() <= TANH_ULP_BOUND, f"max {err.max():.2f} ulp at x = {x[err.argmax()]!r}"


def test_tanh_special_values(tanh_f32_array):
    x = np.array([np.inf, -np.inf, np.nan, 0.0, -0.0, 1e-30, -1e-30, 1e-40, 100, -100, 44, -44], np.float32)
    got = tanh_f32_array(x)
    assert got[0] == 1 and got[1] == -1 and np.isnan(got[2])
    assert got[3] == 0 and not np.signbit(got[3]) and got[4] == 0 and np.signbit(got[4])
    assert got[5] == x[5] and got[6] == x[6] and got[7] == x[7]  # tanh(x) = x for tiny x, subnormals too
    assert list(got[8:]) == [1, -1, 1, -1]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("layout", ["contiguous", "transposed"])
def test_tanh_specials_through_the_op(dtype, layout):
    import mark1 as m1

    x = np.array([[1000, -1000, np.inf, -np.inf], [np.nan, 0, -0.0, 0.3], [20, -20, 1e-30, -2.5]], dtype)
    if layout == "transposed":
        x = np.ascontiguousarray(x.T).T
    with m1.backend("numba"):
        y = m1.tanh(x)
    assert list(y[0]) == [1, -1, 1, -1] and np.isnan(y[1, 0]) and np.signbit(y[1, 2]) and y[1, 2] == 0
    finite = np.isfinite(x) & (np.abs(x) < 100)
    np.testing.assert_allclose(y[finite], np.tanh(x[finite].astype(np.float64)),
                               rtol=6e-7 if dtype == "float32" else 1e-15)  # 5 ulp


VECTOR_FMA = re.compile(r"vfmadd\w*ps\b[^\n]*%[yz]mm")
LIBM = re.compile(r"\b(expf|tanhf|exp|tanh|__\w*exp\w*|__\w*tanh\w*)\b")
FLOAT64_CONVERSION = re.compile(r"\bv?cvt(ss2sd|sd2ss|ps2pd|pd2ps)\b")


@pytest.mark.parametrize("name", ["sigmoid_scalar", "tanh_scalar"])
def test_float32_activation_loop_is_packed_vector_code(name):
    """The loop over the activation becomes packed FMAs on ymm/zmm registers, with no call into libm and no
    float64 conversion (a Python float literal in the formula would bring one in)."""
    from numba import njit

    from mark1.kernels.cpu import expmath
    from mark1.kernels.cpu._intrinsics import prefer_full_vector_width

    scalar = getattr(expmath, name)

    @njit(fastmath={"contract"}, error_model="numpy")  # uncached: inspect_asm needs a fresh compile
    def run(x, out):
        prefer_full_vector_width()
        for i in range(x.shape[0]):
            out[i] = scalar(x[i])

    x = np.linspace(-5, 5, 64, dtype=np.float32)
    run(x, np.empty_like(x))
    asm = "\n".join(run.inspect_asm().values())
    assert VECTOR_FMA.search(asm), f"{name}: no packed ymm/zmm FMA in the loop"
    assert not LIBM.search(asm), f"{name}: calls libm: {sorted(set(LIBM.findall(asm)))}"
    assert not FLOAT64_CONVERSION.search(asm), f"{name}: float64 conversions in a float32 loop"


def test_fused_epilogue_is_packed_vector_code_with_no_libm():
    """The activation epilogue every fused GEMM and conv tile calls (epilogue.activate_block) vectorises
    sigmoid and tanh with packed FMAs and calls no libm: it is a separate kernel, not inlined, so its loops
    must vectorise on their own."""
    from numba import njit

    from mark1.kernels.cpu import epilogue
    from mark1.kernels.cpu._jit import FASTMATH

    block = njit(fastmath=FASTMATH, error_model="numpy")(epilogue.activate_block.py_func)  # uncached: inspectable
    out = np.linspace(-5, 5, 3 * 40, dtype=np.float32).reshape(3, 40)
    expected = np.tanh(out[1:, 3:37].astype(np.float64))
    block(out, np.int64(1), 3, np.int64(3), 37, 2)  # TANH
    np.testing.assert_allclose(out[1:, 3:37], expected, rtol=3e-7, atol=1e-30)
    asm = "\n".join(block.inspect_asm().values())
    assert VECTOR_FMA.search(asm), "no packed ymm/zmm FMA in the epilogue"
    assert not LIBM.search(asm), f"the epilogue calls libm: {sorted(set(LIBM.findall(asm)))}"
    assert not FLOAT64_CONVERSION.search(asm), "float64 conversions in the float32 epilogue"
