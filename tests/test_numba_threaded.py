"""The multi-threaded variants of the numba kernels, which test-sized inputs never reach on their own.

Below the serial thresholds (kernels/cpu/params.py: 2^17 elements) every parallel kernel runs its
single-threaded twin, so the op tests exercise only those. Here `threaded_kernels()` (the one switch in
kernels/cpu/_jit.py; MARK1_THREADED_KERNELS=1 does the same for a whole test run) forces the threaded
variants on awkward shapes, and each result is compared with the float64 oracle and with the serial twin.
float32 only: every variant is another JIT compile, and float64 shares the code path.
"""

from __future__ import annotations

import numpy as np
import pytest

import mark1 as m1
from mark1.backends import unavailable_reason

import oracle

pytestmark = pytest.mark.skipif(unavailable_reason("numba") is not None, reason="needs numba")

SHAPES = [(1, 7), (13, 5), (37, 3)]   # one row, primes; more rows than threads and fewer
F32 = np.float32


def _both_variants(run):
    """run() on the serial twins, then on the threaded variants: (serial result, threaded result)."""
    from mark1.kernels.cpu._jit import threaded_kernels

    with m1.backend("numba"):
        serial = run()
        with threaded_kernels():
            threaded = run()
    return serial, threaded


def _host(result):
    return [np.asarray(m1.to_numpy(r), np.float64) for r in (result if isinstance(result, tuple) else (result,))]


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("layout", ["contiguous", "transposed"])
@pytest.mark.parametrize("name", ["sigmoid", "tanh", "relu"])
def test_activation_forward_and_backward(name, layout, shape, rng):
    x = rng.normal(0, 3, shape).astype(F32)
    dy = rng.normal(0, 1, shape).astype(F32)
    y_host = oracle.activation(name, x.astype(np.float64)).astype(F32)

    def run():
        xs, ys, dys = (oracle.place(a, layout) for a in (x, y_host, dy))
        return getattr(m1, name)(xs), getattr(m1, f"{name}_backward")(ys, dys)

    serial, threaded = _both_variants(run)
    for s, t in zip(_host(serial), _host(threaded), strict=True):
        np.testing.assert_array_equal(t, s)   # elementwise: the same arithmetic per element, bit for bit
    oracle.assert_elementwise(threaded[0], oracle.activation(name, x.astype(np.float64)), F32)
    expected_dx = dy * oracle.activation_grad(name, y_host.astype(np.float64))
    oracle.assert_elementwise(threaded[1], expected_dx, F32)


@pytest.mark.parametrize("shape", SHAPES)
def test_softmax_and_its_backward(shape, rng):
    z = rng.normal(0, 2, shape).astype(F32)
    dy = rng.normal(0, 1, shape).astype(F32)
    y_host = oracle.softmax(z.astype(np.float64)).astype(F32)

    def run():
        return m1.softmax(m1.asarray(z)), m1.softmax_backward(m1.asarray(y_host), m1.asarray(dy))

    serial, threaded = _both_variants(run)
    for s, t in zip(_host(serial), _host(threaded), strict=True):
        np.testing.assert_array_equal(t, s)   # row-wise: each row is summed by one thread either way
    oracle.assert_elementwise(threaded[0], oracle.softmax(z.astype(np.float64)), F32)
    y64 = y_host.astype(np.float64)
    expected = y64 * (dy - (dy * y64).sum(axis=1, keepdims=True))
    np.testing.assert_allclose(_host(threaded[1])[0], expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("loss", ["mse", "bce", "bce_with_logits", "softmax_cross_entropy"])
def test_losses(loss, shape, rng):
    pred = rng.normal(0, 2, shape).astype(F32)
    if loss == "bce":
        pred = oracle.sigmoid(pred).astype(F32)
    if loss == "softmax_cross_entropy":
        target = rng.integers(0, shape[1], shape[0])
        expected_loss, expected_grad = oracle.cross_entropy(pred.astype(np.float64), target)
    else:
        target = rng.uniform(0, 1, shape).astype(F32)
        expected_loss, expected_grad = getattr(oracle, loss)(pred.astype(np.float64), target.astype(np.float64))

    def run():
        t = m1.asarray(target, dtype=np.int64) if loss == "softmax_cross_entropy" else m1.asarray(target)
        return getattr(m1, loss)(m1.asarray(pred), t)

    serial, threaded = _both_variants(run)
    (s_loss, s_grad), (t_loss, t_grad) = _host(serial), _host(threaded)
    np.testing.assert_array_equal(t_grad, s_grad)
    np.testing.assert_allclose(t_loss, s_loss, rtol=1e-6)   # the float64 sum may be split differently
    np.testing.assert_allclose(t_loss, expected_loss, rtol=1e-5)
    np.testing.assert_allclose(t_grad, expected_grad, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_optimizer_updates(optimizer, shape, rng):
    p0, g, v0 = (rng.normal(0, 1, shape).astype(F32) for _ in range(3))
    v0_abs = np.abs(v0)

    def run():
        p, grad, a, b = (m1.asarray(x.copy()) for x in (p0, g, v0, v0_abs))  # updated in place
        if optimizer == "sgd":
            m1.sgd_update(p, grad, a, lr=0.1, momentum=0.9, weight_decay=0.01)
        else:
            m1.adam_update(p, grad, a, b, step=3, lr=0.01, weight_decay=0.01)
        return p, a, b

    serial, threaded = _both_variants(run)
    for s, t in zip(_host(serial), _host(threaded), strict=True):
        np.testing.assert_array_equal(t, s)
    p64, g64, v64 = (a.astype(np.float64) for a in (p0, g, v0))
    if optimizer == "sgd":
        velocity = 0.9 * v64 + g64 + 0.01 * p64
        expected = p64 - 0.1 * velocity
    else:
        grad = g64 + 0.01 * p64
        m = 0.9 * v64 + 0.1 * grad
        v = 0.999 * v0_abs.astype(np.float64) + 0.001 * grad * grad
        expected = p64 - 0.01 * (m / (1 - 0.9**3)) / (np.sqrt(v / (1 - 0.999**3)) + 1e-8)
    np.testing.assert_allclose(_host(threaded)[0], expected, rtol=1e-5, atol=1e-6)


def test_the_switch_reaches_the_threaded_variant():
    from mark1.kernels.cpu import rows
    from mark1.kernels.cpu._jit import PerDtype

    serial, threaded = _both_variants(lambda: m1.softmax(m1.asarray(np.ones((3, 4), F32))))
    assert {(np.dtype(F32), True), (np.dtype(F32), False)} <= rows._softmax.compiled  # (dtype, serial?)
    assert not PerDtype.always_threaded   # the block restored the default


def test_without_mark1_workers_the_kernels_use_numba_threads(monkeypatch):
    """Where workers.py is unavailable (not Linux x86-64), large activations and GEMMs run on numba's prange
    variants, threaded, with the same results."""
    from mark1.kernels.cpu import dense, elementwise, gemm_pooled, workers

    rng = np.random.default_rng(5)
    x = rng.standard_normal((300, 700)).astype(F32)
    w = rng.standard_normal((700, 40)).astype(F32)
    with m1.backend("numba"):
        pooled = (m1.sigmoid(x), m1.tanh_backward(np.tanh(x), x), m1.matmul(x, w))
        monkeypatch.setattr(workers, "AVAILABLE", False)
        for module, launcher in ((elementwise, "_forward_pooled"), (elementwise, "_backward_pooled"),
                                 (gemm_pooled, "gemm_pooled")):
            monkeypatch.setattr(module, launcher, None)  # a pooled launch would now fail
        alone = (m1.sigmoid(x), m1.tanh_backward(np.tanh(x), x), m1.matmul(x, w))
    for got, expected in zip(alone, pooled, strict=True):
        np.testing.assert_array_equal(got, expected)
    assert (np.dtype(F32), False) in dense.kernels.PACKED_KERNELS[False, True].compiled  # the prange GEMM ran


@pytest.mark.parametrize("persistent,k", [(False, 1), (True, 2)])
def test_rbm_epoch_threaded_matches_serial_and_the_reference(persistent, k):
    """The whole-epoch RBM kernel's threaded variant (rows, weight-row panels and sample spans in parallel):
    more rows than threads, a short last batch, W over several register-tile panels of the update, with
    full and partial tiles (37 x 45: rows and columns past a multiple of MR and NR)."""
    from mark1 import rbm_ops
    from mark1.kernels import reference_rbm as ref

    rng = np.random.default_rng(11)
    x = (rng.random((23, 37)) > 0.6).astype(F32)
    host = [a.astype(F32) for a in (0.3 * rng.standard_normal((37, 45)), 0.1 * rng.standard_normal(37),
                                    0.1 * rng.standard_normal(45), np.zeros((37, 45)), np.zeros(37), np.zeros(45),
                                    np.zeros((8, 45)))]
    order = rng.permutation(23).astype(np.int64)
    options = dict(seed=5, first_update=2, batch_size=8, k=k, persistent=persistent, lr=0.1, momentum=0.5,
                   weight_decay=0.001)
    expected = [a.copy() for a in host]
    ref.rbm_epoch(x, order, *expected, **options)

    def run():
        state = [a.copy() for a in host]
        rbm_ops.rbm_epoch(x, order, *state, **options)
        return tuple(state)

    serial, threaded = _both_variants(run)
    for s, t, want in zip(serial, threaded, expected, strict=True):
        np.testing.assert_array_equal(t, s)   # the same arithmetic per row and block, whichever thread runs it
        np.testing.assert_allclose(t, want, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("op", ["sigmoid", "tanh", "relu", "sigmoid_backward", "tanh_backward", "relu_backward"])
def test_chunks_follow_the_output_alignment_at_offsets_across_a_cache_line(op):
    """The flat kernels start their chunks at out's 64-byte boundaries (elementwise._lead): inputs and outputs
    at float offsets from 0 to 15 within a cache line, sizes either side of a chunk, serial and threaded."""
    from mark1.kernels.cpu.elementwise import CHUNK

    rng = np.random.default_rng(5)
    backward = op.endswith("_backward")
    forward = op.removesuffix("_backward")
    for n in (1, 17, CHUNK - 1, CHUNK + 3, 2 * CHUNK + 15):
        for out_at, x_at in ((1, 0), (5, 3), (15, 15), (0, 7)):
            x_buf, dy_buf, out_buf = (np.empty(n + 32, F32) for _ in range(3))
            start = [(-buf.ctypes.data % 64) // 4 for buf in (x_buf, dy_buf, out_buf)]
            x = x_buf[start[0] + x_at:][:n]
            x[:] = rng.standard_normal(n) * 4
            dy = dy_buf[start[1] + x_at:][:n]
            dy[:] = rng.standard_normal(n)
            out = out_buf[start[2] + out_at:][:n]
            with m1.backend("numpy"):
                y = m1.to_numpy(getattr(m1, forward)(x))
                want = getattr(m1, op)(y, dy) if backward else y
            args = (y, dy) if backward else (x,)

            def run(args=args, out=out):
                out[:] = np.nan
                getattr(m1, op)(*args, out=out)
                return out.copy()

            serial, threaded = _both_variants(run)
            np.testing.assert_array_equal(serial, threaded)
            np.testing.assert_allclose(serial, want, rtol=1e-5, atol=1e-6, err_msg=f"{op} n={n} out+{out_at}")
