"""Bad input to the ops: each error names what was wrong, and nothing was written."""

from __future__ import annotations

import numpy as np
import pytest

import mark1 as m1


def test_matmul_shapes_that_do_not_chain(backend):
    with pytest.raises(ValueError, match=r"a.shape=\(2, 3\) and b.shape=\(4, 5\) do not chain"):
        m1.matmul(m1.asarray(np.ones((2, 3))), m1.asarray(np.ones((4, 5))))


def test_matmul_needs_2d(backend):
    with pytest.raises(ValueError, match="expects 2-D arrays"):
        m1.matmul(m1.asarray(np.ones(3)), m1.asarray(np.ones((3, 1))))


@pytest.mark.parametrize("dtype", ["int32", "uint8", "complex64"])
def test_non_float_dtypes_are_refused(backend, dtype):
    x = backend.xp.ones((2, 2), dtype=dtype)
    with pytest.raises(TypeError, match=f"x has dtype {dtype}; expected float32 or float64"):
        m1.sigmoid(x)


def test_asarray_refuses_object_and_complex():
    with pytest.raises(TypeError, match="cannot convert"):
        m1.asarray(np.array([1 + 1j]))
    with pytest.raises(TypeError):
        m1.asarray(np.array([object()]))


def test_mixed_dtypes_are_refused(backend):
    with pytest.raises(TypeError, match=r"mixed dtypes \(a=float32, b=float64\)"):
        m1.matmul(m1.asarray(np.ones((2, 2))), m1.asarray(np.ones((2, 2)), dtype="float64"))


def test_wrong_out_is_refused_and_untouched(backend):
    out = m1.asarray(np.full((2, 3), 7.0))
    with pytest.raises(ValueError, match=r"out has shape \(2, 3\) and dtype float32; expected \(2, 2\) float32"):
        m1.matmul(m1.asarray(np.ones((2, 2))), m1.asarray(np.ones((2, 2))), out=out)
    assert (m1.to_numpy(out) == 7).all()


def test_out_overlapping_an_input_is_refused(backend):
    a = m1.asarray(np.ones((3, 3)))
    with pytest.raises(ValueError, match="out overlaps an input"):
        m1.matmul(a, m1.asarray(np.ones((3, 3))), out=a)


def test_dense_and_conv_out_overlapping_an_input_is_refused_and_changes_nothing(backend):
    """Both read their inputs while writing out: an out sharing memory with x, w or b is refused by name."""
    x = m1.asarray(np.ones((4, 4)))
    w = m1.asarray(np.full((4, 4), 2.0))
    b = m1.asarray(np.zeros(4))
    for out, name in ((x, "x"), (w, "w")):
        with pytest.raises(ValueError, match=rf"dense_forward: out overlaps an input \({name}\)"):
            m1.dense_forward(x, w, b, out=out)
    assert (m1.to_numpy(x) == 1).all() and (m1.to_numpy(w) == 2).all()
    images = m1.asarray(np.ones((1, 1, 3, 3)))
    kernel = m1.asarray(np.ones((1, 1, 1, 1)))
    with pytest.raises(ValueError, match=r"conv2d_forward: out overlaps an input \(x\)"):
        m1.conv2d_forward(images, kernel, m1.asarray(np.zeros(1)), out=images)
    assert (m1.to_numpy(images) == 1).all()


def test_backward_shapes_must_match(backend):
    with pytest.raises(ValueError, match=r"shapes differ \(y.shape=\(2, 3\), dy.shape=\(3, 2\)\)"):
        m1.sigmoid_backward(m1.asarray(np.ones((2, 3))), m1.asarray(np.ones((3, 2))))


def test_dense_shapes_are_named(backend):
    with pytest.raises(ValueError, match=r"x.shape=\(4, 3\), w.shape=\(2, 5\), b.shape=\(5,\) do not fit"):
        m1.dense_forward(m1.asarray(np.ones((4, 3))), m1.asarray(np.ones((2, 5))), m1.asarray(np.ones(5)))
    with pytest.raises(ValueError, match="unknown activation 'gelu'"):
        m1.dense_forward(m1.asarray(np.ones((4, 2))), m1.asarray(np.ones((2, 5))), m1.asarray(np.ones(5)), "gelu")


def test_empty_batch_loss_is_an_error(backend):
    with pytest.raises(ValueError, match="empty batch"):
        m1.mse(m1.asarray(np.ones((0, 2))), m1.asarray(np.ones((0, 2))))


def test_adam_step_must_be_positive(backend):
    p = m1.asarray(np.ones(3))
    with pytest.raises(ValueError, match="step must be >= 1"):
        m1.adam_update(p, m1.asarray(np.ones(3)), m1.asarray(np.zeros(3)), m1.asarray(np.zeros(3)), step=0)
    assert (m1.to_numpy(p) == 1).all()


def test_image_diff_needs_uint8_images(backend):
    with pytest.raises(TypeError, match=r"a is float32 with shape \(2, 2\); expected uint8"):
        m1.image_diff(m1.asarray(np.ones((2, 2))), m1.asarray(np.ones((2, 2))))


def test_elementwise_ops_may_write_in_place(backend):
    """An activation reads each element before it writes it, so out=x is allowed (and documented)."""
    data = np.linspace(-3, 3, 70_000).astype(np.float32).reshape(700, 100)  # above the threaded thresholds
    x = m1.asarray(data.copy())
    assert m1.relu(x, out=x) is x
    np.testing.assert_array_equal(m1.to_numpy(x), np.maximum(data, 0))
    y = m1.asarray(data.copy())
    m1.sigmoid(y, out=y)
    np.testing.assert_allclose(m1.to_numpy(y), 1 / (1 + np.exp(-data.astype(np.float64))), rtol=1e-6)
