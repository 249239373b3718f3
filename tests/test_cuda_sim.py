"""The cuda backend in the numba.cuda simulator (NUMBA_ENABLE_CUDASIM=1, its own pytest step): what the shared op
and nn suites do not cover. Shapes stay tiny (<= 64) but cross the simulator's 8x8 GEMM tiles and its 4-thread
blocks, so edge tiles, grid-stride loops and multi-block reductions all run; out-of-bounds reads raise here.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import mark1 as m1
from mark1 import layer_ops
from mark1.kernels import reference as ref

pytestmark = pytest.mark.cudasim


@pytest.fixture
def cuda():
    with m1.backend("cuda") as be:
        yield be


def test_backend_runs_numpy_arrays_in_the_simulator(cuda):
    assert cuda.xp is np and "simulator" in cuda.device and cuda.options["matmul"] == "numba"


def test_raw_matmul_needs_a_real_gpu():
    with pytest.raises(ValueError, match="matmul='raw' .* needs a real GPU"):
        m1.use("cuda", matmul="raw")


@pytest.mark.parametrize("m,k,n", [(9, 17, 8), (8, 8, 8), (1, 30, 17), (17, 1, 1)])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_gemm_every_tile_edge(cuda, rng, m, k, n, dtype):
    a, b = rng.standard_normal((m, k)), rng.standard_normal((k, n))
    for la in (m1.asarray(a, dtype), m1.asarray(np.ascontiguousarray(a.T), dtype).T):
        for lb in (m1.asarray(b, dtype), m1.asarray(np.asfortranarray(b), dtype)[::1, ::1]):
            out = m1.matmul(la, lb)
            np.testing.assert_allclose(out, a @ b, rtol=1e-5, atol=1e-5 * np.abs(a).max() * np.abs(b).max() * k)


def test_sgd_updates_a_strided_parameter_in_place(cuda, rng):
    base = rng.standard_normal((6, 10)).astype(np.float32)
    param = base[:, ::2]  # a strided view: the update must land in `base`
    grad = rng.standard_normal(param.shape).astype(np.float32)
    velocity = np.zeros_like(grad)
    expected = param.astype(np.float64).copy()
    layer_ops.sgd_update(param, grad, velocity, lr=0.5, momentum=0.9)
    ref.sgd(expected, grad.astype(np.float64), np.zeros(grad.shape), 0.5, 0.9, 0.0)
    np.testing.assert_allclose(base[:, ::2], expected, rtol=1e-6)


def test_adam_matches_reference_over_steps(cuda, rng):
    p, g = rng.standard_normal((5, 7)), rng.standard_normal((5, 7))
    dp, dg, dm, dv = (m1.asarray(x) for x in (p, g, np.zeros_like(p), np.zeros_like(p)))
    m, v = np.zeros_like(p), np.zeros_like(p)
    for step in (1, 2, 3):
        layer_ops.adam_update(dp, dg, dm, dv, step, lr=0.01, weight_decay=0.1)
        ref.adam(p, g, m, v, 0.01, 0.9, 0.999, 1e-8, 0.1, step)
    np.testing.assert_allclose(dp, p, rtol=1e-5, atol=1e-6)


def test_image_diff(cuda, rng):
    a = rng.integers(0, 256, (5, 7, 3), dtype=np.uint8)
    b = rng.integers(0, 256, (5, 7, 3), dtype=np.uint8)
    expected = np.empty((5, 7), np.float32)
    ref.image_diff(a, b, expected)
    np.testing.assert_array_equal(m1.image_diff(a, b[:, :, :]), expected)
    np.testing.assert_array_equal(m1.image_diff(a[:, ::-1], b[:, ::-1]), expected[:, ::-1])  # negative strides


def test_dense_backward_reduces_across_row_chunks(cuda, rng):
    """m=37 rows over several chunks of the column-sum kernel: db adds every chunk exactly once."""
    x, w, dy = rng.standard_normal((37, 5)), rng.standard_normal((5, 6)), rng.standard_normal((37, 6))
    y = np.empty((37, 6))
    ref.dense_forward(x, w, np.zeros(6), "tanh", y)
    dx, dw, db = layer_ops.dense_backward(*(m1.asarray(t, "float64") for t in (x, w, y, dy)), "tanh")
    rdx, rdw, rdb = np.empty_like(x), np.empty_like(w), np.empty(6)
    ref.dense_backward(x, w, y, dy, "tanh", rdx, rdw, rdb)
    for got, want in ((dx, rdx), (dw, rdw), (db, rdb)):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("m,k,n", [(8, 30, 8), (3, 64, 5)])
def test_split_k_gemm(cuda, rng, m, k, n):
    """Few output tiles and a long K: the product is split along K and the partial sums added."""
    from mark1.kernels.cuda import launch, matmul_numba

    tiling = matmul_numba.TILINGS["float32"]
    gx, gy = matmul_numba.tiles(m, n, tiling)
    assert launch.split_k(gx * gy, k, tiling.bk)[0] > 1
    a, b = rng.standard_normal((m, k)), rng.standard_normal((k, n))
    out = m1.matmul(m1.asarray(np.ascontiguousarray(a.T)).T, m1.asarray(b))
    np.testing.assert_allclose(out, a @ b, rtol=1e-5, atol=1e-5 * np.sqrt(k))


_LAYOUT = st.sampled_from(["contiguous", "transposed", "strided"])


def _laid_out(host: np.ndarray, layout: str) -> np.ndarray:
    if layout == "transposed":
        return np.ascontiguousarray(host.T).T
    if layout == "strided":
        big = np.zeros((2 * host.shape[0], 3 * host.shape[1]), host.dtype)
        big[::2, ::3] = host
        return big[::2, ::3]
    return host


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(m=st.integers(1, 19), k=st.integers(1, 40), n=st.integers(1, 19), la=_LAYOUT, lb=_LAYOUT,
       activation=st.sampled_from(["identity", "sigmoid", "tanh", "relu"]))
def test_gemm_and_dense_forward_any_shape_and_layout(cuda, m, k, n, la, lb, activation):
    """Shapes across the 8x8 tiles, K across split-K slices, every layout pair, every fused epilogue."""
    rng = np.random.default_rng(m * 10_000 + k * 100 + n)
    a, b, bias = rng.standard_normal((m, k)), rng.standard_normal((k, n)), rng.standard_normal(n)
    a32, b32 = _laid_out(a.astype(np.float32), la), _laid_out(b.astype(np.float32), lb)
    scale = np.abs(a) @ np.abs(b)
    np.testing.assert_array_less(np.abs(m1.matmul(a32, b32) - a @ b), 1e-5 * scale + 1e-30)
    expected = np.empty((m, n))
    ref.dense_forward(a, b, bias, activation, expected)
    got = m1.dense_forward(a32, b32, bias.astype(np.float32), activation)
    np.testing.assert_array_less(np.abs(got - expected), 1e-5 * (scale + np.abs(bias)) + 1e-30)
