"""The cuda backend on a real GPU: every op against the float64 NumPy reference on awkward shapes (1, primes,
4097, transposed and strided views), for both GEMMs (matmul="raw" and "numba"), float32 and float64.

Skipped without a GPU (conftest). `bench/gpu_run.sh` runs this file, then again under compute-sanitizer
(memcheck, racecheck) with `-m "gpu and not slow"`.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

import mark1 as m1
from mark1 import layer_ops
from mark1.kernels import reference as ref

pytestmark = pytest.mark.gpu

MATMUL_SHAPES = [(1, 1, 1), (7, 13, 5), (127, 129, 131), (128, 8, 128), (257, 1, 33)]
BIG_MATMUL_SHAPES = [(4097, 31, 5), (5, 4097, 3), (33, 4097, 4097), (1031, 1031, 1031)]
LAYOUTS = ("contiguous", "transposed", "strided")
ACTIVATIONS = ("identity", "sigmoid", "tanh", "relu")


@pytest.fixture(scope="module", autouse=True)
def separate_allocations():
    """Under compute-sanitizer (MARK1_NO_CUPY_POOL=1) give every array its own allocation, so memcheck sees its
    bounds: CuPy's pool otherwise hands out slices of large blocks, hiding small overruns."""
    if os.environ.get("MARK1_NO_CUPY_POOL") == "1":
        import cupy

        cupy.cuda.set_allocator(None)
    yield


@pytest.fixture(params=["raw", "numba"])
def gemm(request):
    with m1.backend("cuda", matmul=request.param) as be:
        yield be


@pytest.fixture
def cuda():
    with m1.backend("cuda") as be:
        yield be


def place(host: np.ndarray, layout: str, dtype=np.float32):
    """host on the GPU as a contiguous array, a transposed view, or an every-other-element strided view."""
    if layout == "contiguous":
        return m1.asarray(host, dtype=dtype)
    if layout == "transposed":
        return m1.asarray(np.ascontiguousarray(host.T), dtype=dtype).T
    big = np.zeros(tuple(2 * s + 1 for s in host.shape))
    big[(slice(1, None, 2),) * host.ndim] = host
    return m1.asarray(big, dtype=dtype)[(slice(1, None, 2),) * host.ndim]


def close(got, expected, scale=None, dtype=np.float32) -> None:
    """|got - expected| within a few ulp of `scale` (the summed magnitudes for products and sums)."""
    got = np.asarray(m1.to_numpy(got), dtype=np.float64)
    scale = np.abs(expected) if scale is None else scale
    eps = 4e-6 if dtype == np.float32 else 1e-13
    assert np.isfinite(got).all() == np.isfinite(expected).all()
    np.testing.assert_array_less(np.abs(got - expected), eps * (scale + 1e-30) + 1e-37)


def _check_matmul(rng, m, k, n, la, lb, dtype=np.float32):
    a, b = rng.standard_normal((m, k)), rng.standard_normal((k, n))
    out = m1.matmul(place(a, la, dtype), place(b, lb, dtype))
    close(out, a @ b, np.abs(a) @ np.abs(b), dtype)


@pytest.mark.parametrize("m,k,n", MATMUL_SHAPES)
@pytest.mark.parametrize("la", LAYOUTS)
@pytest.mark.parametrize("lb", LAYOUTS)
def test_matmul(gemm, rng, m, k, n, la, lb):
    _check_matmul(rng, m, k, n, la, lb)


@pytest.mark.slow
@pytest.mark.parametrize("m,k,n", BIG_MATMUL_SHAPES)
@pytest.mark.parametrize("la,lb", [("contiguous", "contiguous"), ("transposed", "transposed"),
                                   ("strided", "contiguous")])
def test_matmul_big(gemm, rng, m, k, n, la, lb):
    _check_matmul(rng, m, k, n, la, lb)


@pytest.mark.parametrize("m,k,n", [(1, 1, 1), (129, 67, 131)])
def test_matmul_float64_uses_numba_kernel(gemm, rng, m, k, n):
    _check_matmul(rng, m, k, n, "transposed", "contiguous", np.float64)


def test_matmul_raw_writes_every_element_of_a_poisoned_out(rng):
    with m1.backend("cuda", matmul="raw"):
        a, b = rng.standard_normal((131, 37)), rng.standard_normal((37, 133))
        out = m1.asarray(np.full((131, 133), np.nan))
        m1.matmul(m1.asarray(a), m1.asarray(b), out=out)
        close(out, a @ b, np.abs(a) @ np.abs(b))


@pytest.mark.parametrize("m,k,n", [(1, 1, 1), (7, 13, 5), (4097, 31, 130)])
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_dense_forward_and_backward(gemm, rng, m, k, n, activation):
    x, w, b = rng.standard_normal((m, k)), rng.standard_normal((k, n)), rng.standard_normal(n)
    y = m1.dense_forward(place(x, "strided"), place(w, "transposed"), m1.asarray(b), activation)
    expected = np.empty((m, n))
    ref.dense_forward(x, w, b, activation, expected)
    close(y, expected, np.abs(x) @ np.abs(w) + np.abs(b))
    y_host = np.asarray(m1.to_numpy(y), dtype=np.float64)
    dy = rng.standard_normal((m, n))
    dx, dw, db = layer_ops.dense_backward(m1.asarray(x), m1.asarray(w), y, m1.asarray(dy), activation)
    rdx, rdw, rdb = np.empty((m, k)), np.empty((k, n)), np.empty(n)
    ref.dense_backward(x, w, y_host, dy, activation, rdx, rdw, rdb)
    mag = np.abs(dy)
    close(dw, rdw, np.abs(x).T @ mag)
    close(db, rdb, mag.sum(0))
    close(dx, rdx, mag @ np.abs(w).T)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(1,), (4097,), (3, 4097), (1 << 20) + 3])
@pytest.mark.parametrize("name", ["sigmoid", "tanh", "relu"])
def test_activations(cuda, rng, dtype, shape, name):
    x = rng.standard_normal(shape) * 10
    layout = "strided" if np.ndim(x) == 2 else "contiguous"
    expected = np.empty_like(x)
    getattr(ref, name)(x, expected)
    close(getattr(m1, name)(place(x, layout, dtype)), expected, None, dtype)
    y, dy = expected, rng.standard_normal(np.shape(x))
    grad = np.empty_like(x)
    getattr(ref, f"{name}_backward")(y, dy, grad)
    got = getattr(m1, f"{name}_backward")(m1.asarray(y, dtype), m1.asarray(dy, dtype))
    close(got, grad, np.abs(dy), dtype)


def test_sigmoid_extremes(cuda):
    got = m1.to_numpy(m1.sigmoid(m1.asarray(np.array([-1000, -88, 0, 88, 1000, np.nan]))))
    assert got[0] == 0 and got[-2] == 1 and got[2] == 0.5 and np.isnan(got[-1])


@pytest.mark.parametrize("rows,cols", [(1, 1), (4097, 10), (3, 4097), (64, 10)])
def test_softmax_and_cross_entropy(cuda, rng, rows, cols):
    z = rng.standard_normal((rows, cols)) * 5
    expected = np.empty_like(z)
    ref.softmax(z, expected)
    close(m1.softmax(place(z, "transposed")), expected, np.abs(expected) + 1e-7)
    labels = rng.integers(0, cols, rows)
    loss, grad = layer_ops.softmax_cross_entropy(m1.asarray(z), m1.asarray(labels, dtype="int64"))
    rgrad, rloss = np.empty_like(z), np.empty(1)
    ref.softmax_cross_entropy(z, labels, rgrad, rloss)
    close(grad, rgrad, (expected + 1) / rows)  # p - onehot cancels: error relative to the terms
    assert abs(float(loss) - rloss[0]) < 1e-5 * (abs(rloss[0]) + 1)
    dy = rng.standard_normal((rows, cols))
    back = np.empty_like(z)
    ref.softmax_backward(expected, dy, back)
    got = m1.softmax_backward(m1.asarray(expected), m1.asarray(dy))
    close(got, back, expected * (np.abs(dy) + (np.abs(dy) * expected).sum(1, keepdims=True)))


@pytest.mark.parametrize("shape", [(1, 1), (4097, 3), (1 << 18, 5)])
@pytest.mark.parametrize("name", ["mse", "bce", "bce_with_logits"])
def test_losses(cuda, rng, shape, name):
    pred = rng.random(shape) if name == "bce" else rng.standard_normal(shape)
    target = rng.random(shape)
    loss, grad = getattr(layer_ops, name)(m1.asarray(pred), m1.asarray(target))
    rgrad, rloss = np.empty_like(pred), np.empty(1)
    getattr(ref, name)(pred, target, rgrad, rloss)
    terms = np.abs(pred) + np.abs(target)  # p - y cancels: the error is relative to the terms
    if name == "bce":
        terms /= np.maximum(pred * (1 - pred), 1e-12)
    close(grad, rgrad, terms / shape[0])
    assert abs(float(loss) - rloss[0]) < 1e-5 * abs(rloss[0]) + 1e-7


@pytest.mark.parametrize("shape", [(1,), (4097,), (31, 7)])
def test_optimizers_in_place(cuda, rng, shape):
    p, g, v = (rng.standard_normal(shape) for _ in range(3))
    dp, dg, dv = (m1.asarray(a) for a in (p, g, v))
    layer_ops.sgd_update(dp, dg, dv, lr=0.1, momentum=0.9, weight_decay=0.01)
    ref.sgd(p, g, v, 0.1, 0.9, 0.01)
    close(dp, p, np.abs(p) + 0.1)
    close(dv, v, np.abs(v) + 1)
    m, s = rng.standard_normal(shape), rng.random(shape)
    dm, ds = m1.asarray(m), m1.asarray(s)
    for step in (1, 2, 3):
        layer_ops.adam_update(dp, dg, dm, ds, step, lr=1e-2, weight_decay=0.01)
        ref.adam(p, g, m, s, 1e-2, 0.9, 0.999, 1e-8, 0.01, step)
    close(dp, p, np.abs(p) + 1e-2)


def test_image_diff(cuda, rng):
    a = rng.integers(0, 256, (1081, 1921, 3), dtype=np.uint8)
    b = rng.integers(0, 256, (1081, 1921, 3), dtype=np.uint8)
    expected = np.empty(a.shape[:2], np.float32)
    ref.image_diff(a, b, expected)
    got = m1.image_diff(m1.asarray(a, dtype="uint8"), m1.asarray(b, dtype="uint8"))
    np.testing.assert_array_equal(m1.to_numpy(got), expected)


def test_backend_reports_the_device_and_options(cuda):
    import cupy

    assert cuda.xp is cupy and cuda.options["matmul"] == "raw"
    assert cuda.device.startswith("cuda:")
    assert isinstance(m1.asarray(np.ones(3)), cupy.ndarray)


# --- issue 15: what the stubs and the host emulation check, once more on the GPU itself -------------------

@pytest.mark.parametrize("view", ["every other", "offset", "matrix column"])
def test_dense_forward_with_a_bias_view(gemm, rng, view):
    """The RawKernel read the bias at unit stride whatever its view: b[::2] or a column gave wrong outputs."""
    x, w, big = rng.standard_normal((130, 9)), rng.standard_normal((9, 131)), rng.standard_normal((262, 5))
    on_gpu = m1.asarray(big)
    b_host, b = {"every other": (big[::2, 0], on_gpu[::2, 0]), "offset": (big[3:134, 0], on_gpu[3:134, 0]),
                 "matrix column": (big[:131, 2], on_gpu[:131, 2])}[view]
    expected = np.empty((130, 131))
    ref.dense_forward(x, w, b_host, "sigmoid", expected)
    got = m1.dense_forward(m1.asarray(x), m1.asarray(w), b, "sigmoid")
    close(got, expected, np.abs(x) @ np.abs(w) + np.abs(b_host))


def test_gemm_with_more_than_65535_row_tiles(gemm, rng):
    """2^23 + 129 rows: more than 65 535 tiles of 128 rows, which a grid.y launch cannot hold."""
    m = (1 << 23) + 129
    x, w, b = rng.standard_normal((m, 3)).astype(np.float32), rng.standard_normal((3, 2)), rng.standard_normal(2)
    y = m1.to_numpy(m1.dense_forward(m1.asarray(x), m1.asarray(w), m1.asarray(b), "identity"))
    rows = np.r_[0:5, m - 300:m]  # the first and the last tiles
    expected = x[rows].astype(np.float64) @ w + b
    close(y[rows], expected, np.abs(x[rows]) @ np.abs(w) + np.abs(b))


def test_ops_on_a_non_blocking_stream_give_the_same_answers(gemm, rng):
    """Inside `with cupy.cuda.Stream(non_blocking=True)`, numba kernels must queue on that stream (as CuPy's
    copies, its pool and .get() do): a loss read with float() right after the launches is already summed."""
    import cupy

    x, w, b = rng.standard_normal((513, 67)), rng.standard_normal((67, 10)), rng.standard_normal(10)
    labels = rng.integers(0, 10, 513)
    expected = np.empty((513, 10))
    ref.dense_forward(x, w, b, "identity", expected)
    ref_grad, ref_loss = np.empty((513, 10)), np.empty(1)
    ref.softmax_cross_entropy(expected, labels, ref_grad, ref_loss)
    with cupy.cuda.Stream(non_blocking=True):
        for _ in range(3):  # pool buffers recycled between iterations
            y = m1.dense_forward(m1.asarray(x), m1.asarray(w), m1.asarray(b), "identity")
            loss, grad = layer_ops.softmax_cross_entropy(y, m1.asarray(labels, dtype="int64"), check_labels=False)
            got_loss = float(loss)
            assert got_loss == pytest.approx(float(ref_loss[0]), rel=1e-4)
            close(grad, ref_grad, np.abs(ref_grad) + 1e-6)


def test_ops_run_on_the_arrays_device():
    import cupy

    if cupy.cuda.runtime.getDeviceCount() < 2:
        pytest.skip("needs two GPUs")
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((70, 33)), rng.standard_normal((33, 9))
    with cupy.cuda.Device(1), m1.backend("cuda", matmul="numba"):
        out = m1.sigmoid(m1.matmul(m1.asarray(a), m1.asarray(b)))
        assert out.device.id == 1
        close(out, 1 / (1 + np.exp(-(a @ b))))
