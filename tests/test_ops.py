"""Every array op on every usable backend against an independent float64 answer (tests/oracle.py).

Shapes are awkward on purpose (1, primes, empty, not a multiple of any tile) and small (≤ 64), because the
CUDA simulator step runs this file too. Inputs come contiguous, transposed and strided.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import mark1 as m1
from mark1 import layer_ops

import oracle
from oracle import LAYOUTS, assert_elementwise, assert_reduction, host64, place

DTYPES = ("float32", "float64")
MATMUL_SHAPES = [(1, 1, 1), (7, 13, 5), (1, 17, 1), (31, 1, 29), (37, 41, 19), (64, 33, 17), (2, 64, 3),
                 (0, 3, 4), (3, 0, 4), (4, 3, 0)]
ELEMENTWISE_SHAPES = [(1,), (7, 13), (0, 5), (3, 4, 5), (61,)]
SPECIALS = np.array([0.0, -0.0, 1000.0, -1000.0, 88.0, -88.0, 20.0, -20.0, np.inf, -np.inf, np.nan, 1e-30])


def _values(rng, shape, scale=4.0):
    return rng.standard_normal(shape) * scale


# --- matmul -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("m,k,n", MATMUL_SHAPES)
@pytest.mark.parametrize("layout_a", LAYOUTS)
@pytest.mark.parametrize("layout_b", ["contiguous", "transposed"])
def test_matmul_matches_float64(backend, rng, dtype, m, k, n, layout_a, layout_b):
    a_host = _values(rng, (m, k)).astype(dtype)
    b_host = _values(rng, (k, n)).astype(dtype)
    a, b = place(a_host, layout_a), place(b_host, layout_b)
    result = m1.matmul(a, b)
    a64, b64 = a_host.astype(np.float64), b_host.astype(np.float64)
    assert result.shape == (m, n)
    assert_reduction(result, a64 @ b64, np.abs(a64) @ np.abs(b64), dtype, k)


def test_matmul_writes_into_out(backend, rng):
    a, b = m1.asarray(_values(rng, (5, 7))), m1.asarray(_values(rng, (7, 3)))
    out = m1.asarray(np.full((5, 3), np.nan))
    assert m1.matmul(a, b, out=out) is out
    assert_reduction(out, host64(a) @ host64(b), np.abs(host64(a)) @ np.abs(host64(b)), "float32", 7)


@settings(max_examples=25, deadline=None)
@given(m=st.integers(1, 9), k=st.integers(1, 9), n=st.integers(1, 9), seed=st.integers(0, 2**16),
       transpose_a=st.booleans(), transpose_b=st.booleans())
def test_matmul_random_shapes(m, k, n, seed, transpose_a, transpose_b):
    # hypothesis cannot use the function-scoped backend fixture: run on every backend inside
    from conftest import TEST_BACKENDS

    rng = np.random.default_rng(seed)
    a_host, b_host = _values(rng, (m, k)).astype(np.float32), _values(rng, (k, n)).astype(np.float32)
    for name in TEST_BACKENDS:
        with m1.backend(name):
            a = place(a_host, "transposed" if transpose_a else "contiguous")
            b = place(b_host, "transposed" if transpose_b else "contiguous")
            a64, b64 = a_host.astype(np.float64), b_host.astype(np.float64)
            assert_reduction(m1.matmul(a, b), a64 @ b64, np.abs(a64) @ np.abs(b64), "float32", k)


# --- activations ----------------------------------------------------------------------------------------

FORWARD = {"sigmoid": (m1.sigmoid, oracle.sigmoid), "tanh": (m1.tanh, np.tanh),
           "relu": (m1.relu, lambda v: np.maximum(v, 0))}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", ELEMENTWISE_SHAPES)
@pytest.mark.parametrize("name", FORWARD)
@pytest.mark.parametrize("layout", ["contiguous", "strided"])
def test_activation_forward(backend, rng, dtype, shape, name, layout):
    op, expected = FORWARD[name]
    x_host = _values(rng, shape).astype(dtype)
    result = op(place(x_host, layout))
    assert result.shape == shape
    assert_elementwise(result, expected(x_host.astype(np.float64)), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", FORWARD)
def test_activation_special_values(backend, dtype, name):
    op, expected = FORWARD[name]
    x_host = SPECIALS.astype(dtype)
    got = m1.to_numpy(op(m1.asarray(x_host, dtype=dtype)))
    assert_elementwise(got, expected(x_host.astype(np.float64)), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_sigmoid_saturates_exactly(backend, dtype):
    got = m1.to_numpy(m1.sigmoid(m1.asarray([1000.0, -1000.0, np.inf, -np.inf], dtype=dtype)))
    assert got.tolist() == [1.0, 0.0, 1.0, 0.0]


BACKWARD = {"sigmoid": m1.sigmoid_backward, "tanh": m1.tanh_backward, "relu": m1.relu_backward}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", ELEMENTWISE_SHAPES)
@pytest.mark.parametrize("name", BACKWARD)
def test_activation_backward(backend, rng, dtype, shape, name):
    y_host = oracle.activation(name, _values(rng, shape)).astype(dtype)
    dy_host = _values(rng, shape).astype(dtype)
    result = BACKWARD[name](place(y_host, "strided"), m1.asarray(dy_host, dtype=dtype))
    y64, dy64 = y_host.astype(np.float64), dy_host.astype(np.float64)
    # 1 - y² cancels when |y| ≈ 1, so the bound scales with the terms' size, not the result's
    assert_reduction(result, dy64 * oracle.activation_grad(name, y64), np.abs(dy64) * (1 + y64 * y64), dtype, 3)


def test_activation_out_argument(backend, rng):
    x = m1.asarray(_values(rng, (4, 6)))
    out = m1.asarray(np.full((4, 6), np.nan))
    assert m1.sigmoid(x, out=out) is out
    assert_elementwise(out, oracle.sigmoid(host64(x)), "float32")


# --- softmax and cross-entropy --------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(1, 1), (7, 13), (64, 10), (3, 1)])
@pytest.mark.parametrize("layout", LAYOUTS)
def test_softmax(backend, rng, dtype, shape, layout):
    z_host = _values(rng, shape, scale=30).astype(dtype)
    z_host[0, 0] = 1000  # would overflow exp() without the max shift
    result = m1.softmax(place(z_host, layout))
    expected = oracle.softmax(z_host.astype(np.float64))
    assert_reduction(result, expected, expected, dtype, shape[1])


def test_softmax_other_axis(backend, rng):
    z_host = _values(rng, (3, 4, 5)).astype(np.float32)
    got = m1.to_numpy(m1.softmax(m1.asarray(z_host), axis=1))
    expected = np.moveaxis(oracle.softmax(np.moveaxis(z_host, 1, -1).reshape(-1, 4).astype(np.float64))
                           .reshape(3, 5, 4), -1, 1)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("dtype", DTYPES)
def test_softmax_backward(backend, rng, dtype):
    y_host = oracle.softmax(_values(rng, (7, 13))).astype(dtype)
    dy_host = _values(rng, (7, 13)).astype(dtype)
    y64, dy64 = y_host.astype(np.float64), dy_host.astype(np.float64)
    expected = y64 * (dy64 - (dy64 * y64).sum(axis=1, keepdims=True))
    result = m1.softmax_backward(m1.asarray(y_host, dtype=dtype), m1.asarray(dy_host, dtype=dtype))
    assert_reduction(result, expected, np.abs(y64) * (np.abs(dy64) + (np.abs(dy64 * y64)).sum(1, keepdims=True)),
                     dtype, 13)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("m,classes", [(1, 1), (1, 10), (7, 13), (64, 10)])
def test_softmax_cross_entropy(backend, rng, dtype, m, classes):
    z_host = _values(rng, (m, classes), scale=10).astype(dtype)
    z_host[0, -1] = -1000 if classes > 1 else z_host[0, -1]
    labels_host = rng.integers(0, classes, m)
    loss, grad = m1.softmax_cross_entropy(m1.asarray(z_host, dtype=dtype), m1.asarray(labels_host, dtype="int64"))
    exp_loss, exp_grad = oracle.cross_entropy(z_host.astype(np.float64), labels_host)
    assert loss.shape == ()
    tol = 1e-5 if dtype == "float32" else 1e-12
    np.testing.assert_allclose(float(loss), exp_loss, rtol=tol, atol=tol)
    np.testing.assert_allclose(m1.to_numpy(grad), exp_grad, rtol=tol, atol=tol / m)


def test_cross_entropy_extreme_logits_are_exact(backend):
    z = m1.asarray([[1000.0, -1000.0, 0.0], [-1000.0, 1000.0, 5.0]])
    loss, grad = m1.softmax_cross_entropy(z, m1.asarray([1, 1], dtype="int64"))
    assert float(loss) == pytest.approx(1000.0, rel=1e-6)  # row 0: lse 1000, label logit -1000 -> 2000; /2
    # softmax rows are exactly one-hot (e^-995 and below underflow to 0): (p - onehot) / m with m = 2
    np.testing.assert_array_equal(m1.to_numpy(grad), [[0.5, -0.5, 0.0], [0.0, 0.0, 0.0]])


@pytest.mark.parametrize("bad", [-1, 3, 10**6])
def test_unchecked_out_of_range_label_is_nan_never_a_read_outside_the_row(backend, rng, bad):
    """check_labels=False (fit checks every label once) hands a bad label to the kernel: its row's loss and
    gradient must be NaN, not another class's value (-1 wraps to the last class) or memory past the row."""
    z_host = _values(rng, (4, 3)).astype(np.float32)
    labels = np.array([0, bad, 2, 1])
    loss, grad = layer_ops.softmax_cross_entropy(m1.asarray(z_host), m1.asarray(labels, dtype="int64"),
                                                 check_labels=False)
    got = m1.to_numpy(grad)
    assert np.isnan(float(loss)) and np.isnan(got[1]).all()
    good = [0, 2, 3]
    _, expected = oracle.cross_entropy(z_host.astype(np.float64), np.where(labels == bad, 0, labels))
    np.testing.assert_allclose(got[good], expected[good], rtol=1e-5, atol=1e-6)


# --- elementwise losses ---------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(1, 1), (7, 3), (64,), (5, 2, 3)])
@pytest.mark.parametrize("name", ["mse", "bce", "bce_with_logits"])
def test_elementwise_losses(backend, rng, dtype, shape, name):
    if name == "bce":
        pred_host = rng.uniform(0.01, 0.99, shape).astype(dtype)
    else:
        pred_host = _values(rng, shape).astype(dtype)
    target_host = rng.uniform(0, 1, shape).astype(dtype)
    loss, grad = getattr(m1, name)(place(pred_host, "strided"), m1.asarray(target_host, dtype=dtype))
    exp_loss, exp_grad = getattr(oracle, name)(pred_host.astype(np.float64), target_host.astype(np.float64))
    tol = 2e-5 if dtype == "float32" else 1e-12
    np.testing.assert_allclose(float(loss), exp_loss, rtol=tol, atol=tol)
    np.testing.assert_allclose(m1.to_numpy(grad), exp_grad, rtol=tol, atol=tol / shape[0])


def test_bce_on_hard_probabilities_is_clamped_like_torch(backend):
    loss, grad = m1.bce(m1.asarray([0.0, 1.0, 0.0, 1.0]), m1.asarray([0.0, 1.0, 1.0, 0.0]))
    assert float(loss) == pytest.approx(50.0)  # two clamped logs of -100, over m = 4
    # (p - t) / (max(p(1 - p), 1e-12) m): right answers give 0, wrong ones -+1 / (4e-12)
    np.testing.assert_allclose(m1.to_numpy(grad), [0.0, 0.0, -2.5e11, 2.5e11], rtol=1e-6, atol=0)


def test_bce_with_logits_is_finite_on_huge_logits(backend):
    loss, grad = m1.bce_with_logits(m1.asarray([1000.0, -1000.0]), m1.asarray([0.0, 1.0]))
    assert float(loss) == pytest.approx(1000.0)
    np.testing.assert_allclose(m1.to_numpy(grad), [0.5, -0.5])


# --- fused dense layer ----------------------------------------------------------------------------------

ACTIVATIONS = ("identity", "sigmoid", "tanh", "relu")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("m,k,n", [(1, 1, 1), (7, 13, 5), (33, 17, 10), (0, 3, 2), (4, 0, 3)])
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_dense_forward(backend, rng, dtype, m, k, n, activation):
    x_host, w_host = _values(rng, (m, k), 1).astype(dtype), _values(rng, (k, n), 1).astype(dtype)
    b_host = _values(rng, (n,), 1).astype(dtype)
    result = m1.dense_forward(place(x_host, "transposed"), m1.asarray(w_host, dtype=dtype),
                              m1.asarray(b_host, dtype=dtype), activation)
    x64, w64, b64 = (v.astype(np.float64) for v in (x_host, w_host, b_host))
    expected = oracle.activation(activation, x64 @ w64 + b64)
    assert_reduction(result, expected, np.abs(x64) @ np.abs(w64) + np.abs(b64), dtype, k + 1)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("m,k,n", [(1, 1, 1), (7, 13, 5), (33, 17, 10), (0, 3, 2)])
@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("need_dx", [True, False])
def test_dense_backward(backend, rng, dtype, m, k, n, activation, need_dx):
    x_host, w_host = _values(rng, (m, k), 1).astype(dtype), _values(rng, (k, n), 1).astype(dtype)
    y_host = oracle.activation(activation, _values(rng, (m, n), 1)).astype(dtype)
    dy_host = _values(rng, (m, n), 1).astype(dtype)
    dx, dw, db = m1.dense_backward(place(x_host, "strided"), m1.asarray(w_host, dtype=dtype),
                                   m1.asarray(y_host, dtype=dtype), m1.asarray(dy_host, dtype=dtype),
                                   activation, need_dx=need_dx)
    x64, w64, y64, dy64 = (v.astype(np.float64) for v in (x_host, w_host, y_host, dy_host))
    delta = dy64 * oracle.activation_grad(activation, y64)
    assert_reduction(dw, x64.T @ delta, np.abs(x64.T) @ np.abs(delta), dtype, m)
    assert_reduction(db, delta.sum(0), np.abs(delta).sum(0), dtype, m)
    if need_dx:
        assert_reduction(dx, delta @ w64.T, np.abs(delta) @ np.abs(w64.T), dtype, n)
    else:
        assert dx is None


# --- optimizer updates ----------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("momentum,weight_decay", [(0.0, 0.0), (0.9, 0.0), (0.9, 1e-2)])
@pytest.mark.parametrize("layout", ["contiguous", "transposed", "strided"])  # flat kernels and row by row
def test_sgd_update(backend, rng, dtype, momentum, weight_decay, layout):
    p_host, g_host, v_host = (_values(rng, (7, 5)).astype(dtype) for _ in range(3))
    p64, g64, v64 = (h.astype(np.float64) for h in (p_host, g_host, v_host))  # before: asarray may not copy
    p, g, v = (place(h, layout) for h in (p_host, g_host, v_host))
    m1.sgd_update(p, g, v, lr=0.1, momentum=momentum, weight_decay=weight_decay)
    step = g64 + weight_decay * p64
    if momentum:
        step = v64 = momentum * v64 + step
    assert_elementwise(p, p64 - 0.1 * step, dtype)
    if momentum:
        assert_elementwise(v, v64, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("step,weight_decay", [(1, 0.0), (7, 0.0), (3, 1e-2)])
@pytest.mark.parametrize("shape,layout", [((61,), "contiguous"), ((13, 7), "transposed"), ((5, 3), "strided")])
def test_adam_update(backend, rng, dtype, step, weight_decay, shape, layout):
    p_host, g_host, mom_host = (_values(rng, shape).astype(dtype) for _ in range(3))
    var_host = rng.uniform(0, 2, shape).astype(dtype)
    p64, g64, m64, v64 = (h.astype(np.float64) for h in (p_host, g_host, mom_host, var_host))
    p, g, mom, var = (place(h, layout, dtype) for h in (p_host, g_host, mom_host, var_host))
    m1.adam_update(p, g, mom, var, step=step, lr=1e-2, weight_decay=weight_decay)
    g64 = g64 + weight_decay * p64
    m64 = 0.9 * m64 + 0.1 * g64
    v64 = 0.999 * v64 + 0.001 * g64 * g64
    expected = p64 - 1e-2 * (m64 / (1 - 0.9**step)) / (np.sqrt(v64 / (1 - 0.999**step)) + 1e-8)
    rtol = 1e-5 if dtype == "float32" else 1e-12
    np.testing.assert_allclose(m1.to_numpy(p), expected, rtol=rtol, atol=rtol)
    np.testing.assert_allclose(m1.to_numpy(mom), m64, rtol=rtol, atol=rtol)
    np.testing.assert_allclose(m1.to_numpy(var), v64, rtol=rtol, atol=rtol)


# --- image difference -----------------------------------------------------------------------------------

@pytest.mark.parametrize("shape", [(1, 1, 3), (13, 7, 3), (5, 9), (17, 3, 4)])
def test_image_diff(backend, rng, shape):
    a_host = rng.integers(0, 256, shape, dtype=np.uint8)
    b_host = rng.integers(0, 256, shape, dtype=np.uint8)
    a_host.flat[0], b_host.flat[0] = 0, 255  # the widest gap must not wrap around
    got = m1.to_numpy(m1.image_diff(m1.asarray(a_host, dtype="uint8"), m1.asarray(b_host, dtype="uint8")))
    diff = np.abs(a_host.astype(int) - b_host.astype(int))
    expected = diff if diff.ndim == 2 else diff.max(axis=2)
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, expected)


# --- read-only inputs -------------------------------------------------------------------------------------

def _read_only(x):
    if isinstance(x, np.ndarray):  # np.asarray(PIL image) and np.broadcast_to views are read-only
        x = x.copy()
        x.flags.writeable = False
    return x


def test_read_only_inputs_are_accepted(backend, rng):
    """Every op reads a read-only input and still computes the right values (checked against the oracle)."""
    a = _read_only(m1.asarray(_values(rng, (5, 7))))
    b = _read_only(m1.asarray(_values(rng, (7, 3))))
    bias = _read_only(m1.asarray(_values(rng, (3,))))
    a64, b64, bias64 = host64(a), host64(b), host64(bias)
    assert_reduction(m1.matmul(a, b), a64 @ b64, np.abs(a64) @ np.abs(b64), "float32", 7)
    assert_elementwise(m1.sigmoid(a), oracle.sigmoid(a64), "float32")
    soft = oracle.softmax(a64)
    assert_reduction(m1.softmax(a), soft, soft, "float32", 7)
    y = m1.dense_forward(a, b, bias, "tanh")
    assert_reduction(y, np.tanh(a64 @ b64 + bias64), np.abs(a64) @ np.abs(b64) + np.abs(bias64), "float32", 8)
    dy = _read_only(m1.asarray(_values(rng, (5, 3))))
    dx, dw, db = m1.dense_backward(a, b, _read_only(y), dy, "tanh")
    delta = host64(dy) * oracle.activation_grad("tanh", host64(y))
    assert_reduction(dw, a64.T @ delta, np.abs(a64.T) @ np.abs(delta), "float32", 5)
    assert_reduction(db, delta.sum(0), np.abs(delta).sum(0), "float32", 5)
    assert_reduction(dx, delta @ b64.T, np.abs(delta) @ np.abs(b64.T), "float32", 3)
    logits, labels = _read_only(m1.asarray(_values(rng, (5, 3)))), rng.integers(0, 3, 5)
    loss, grad = m1.softmax_cross_entropy(logits, _read_only(m1.asarray(labels, dtype="int64")))
    exp_loss, exp_grad = oracle.cross_entropy(host64(logits), labels)
    np.testing.assert_allclose(float(loss), exp_loss, rtol=1e-5)
    np.testing.assert_allclose(m1.to_numpy(grad), exp_grad, rtol=1e-5, atol=1e-6)
    target = _read_only(m1.asarray(_values(rng, (5, 7))))
    loss, grad = m1.mse(a, target)
    exp_loss, exp_grad = oracle.mse(a64, host64(target))
    np.testing.assert_allclose(float(loss), exp_loss, rtol=1e-5)
    np.testing.assert_allclose(m1.to_numpy(grad), exp_grad, rtol=1e-5, atol=1e-6)
    img = _read_only(m1.asarray(rng.integers(0, 256, (4, 5, 3)), dtype="uint8"))
    np.testing.assert_array_equal(m1.to_numpy(m1.image_diff(img, img)), np.zeros((4, 5)))


def test_elementwise_check_is_relative_except_for_flushed_subnormals():
    """oracle.assert_elementwise must fail a sigmoid that returns 0 below -16 (an absolute 1e-7 let it pass),
    and accept the documented flush of float32 subnormal results (x < -87.3) to 0."""
    x = np.array([-17.0, -30.0, -60.0, -87.0, -88.0, -100.0, 3.0])
    exact = oracle.sigmoid(x)
    with pytest.raises(AssertionError):
        assert_elementwise(np.where(x < -16, 0.0, exact).astype(np.float32), exact, "float32")
    tiny = np.finfo(np.float32).tiny
    assert_elementwise(np.where(exact < tiny, 0.0, exact).astype(np.float32), exact, "float32")
