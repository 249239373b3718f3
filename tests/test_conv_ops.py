"""conv2d and pooling ops on every usable backend against the direct-loop float64 oracle (tests/oracle.py).

The cases cover kernel sizes 1, 3, 5, (5, 3) and an even 2; strides 1, 2, (2, 1); padding 0, 1, 2, (2, 1)
and "same"; channels 1, 3, 7 (and 12: a depth past one packed block); batch 1 and > 1; float32 and float64;
contiguous and strided inputs; every activation. Kept to a short list, not a product: each case compiles
nothing new, but the CUDA simulator runs this file too.
"""

from __future__ import annotations

import numpy as np
import pytest

import mark1 as m1

import oracle
from oracle import host64, place

DTYPES = ("float32", "float64")
ACTS = ("identity", "relu", "sigmoid", "tanh")
TOLERANCE = {"float32": 2e-5, "float64": 1e-12}  # x the result's largest magnitude

# (batch, channels, height, width, out_channels, kernel, stride, padding)
CONV_CASES = [
    (1, 1, 6, 5, 2, 1, 1, 0),
    (2, 3, 7, 9, 4, 3, 1, 1),
    (3, 7, 9, 8, 5, 5, 2, 2),
    (2, 3, 8, 6, 6, (5, 3), (2, 1), (2, 1)),
    (1, 3, 5, 7, 3, 3, 1, "same"),
    (2, 1, 6, 6, 2, 2, 1, "same"),     # even kernel: the extra padding row/column goes after
    (2, 2, 7, 7, 17, 3, 2, 0),         # out channels not a multiple of the register tile
    (1, 12, 6, 6, 3, 5, 1, 2),         # depth 12*5*5 = 300: more than one packed block
    (2, 1, 19, 18, 2, 3, 1, 0),        # 17x16 = 272 output pixels: dW's depth past one block
    (2, 3, 5, 21, 7, (2, 3), 1, (1, 0)),  # stride 1 (wide rows): rows wider than a panel, unequal padding
    (2, 3, 7, 6, 10, 3, 1, 1),         # stride 1, 10 out channels: the full-height (MR-row) tile
    (1, 2, 6, 7, 16, 3, 1, 0),         # stride 1, 16 out channels: two short (2/3 MR) tiles on avx512
    (2, 4, 7, 8, 20, 3, 1, 1),         # stride-1 dW past the lanes path: in-place im2col rows, a full-width tile
    (1, 3, 6, 6, 40, 3, 1, 0),         # ... and 40 channels: two column panels of the dW tile
]


def _close(got, expected, dtype) -> None:
    scale = max(1.0, float(np.abs(expected).max()))
    np.testing.assert_allclose(host64(got), expected, rtol=0, atol=TOLERANCE[dtype] * scale)


def _pads(kernel, stride, padding):
    from mark1.conv_ops import pair, resolve_padding

    return resolve_padding("test", padding, pair("t", "k", kernel), pair("t", "s", stride))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", range(len(CONV_CASES)))
def test_conv2d_forward_and_backward_match_the_direct_loops(backend, rng, dtype, case):
    n, c, h, w, o, kernel, stride, padding = CONV_CASES[case]
    activation = ACTS[case % len(ACTS)]
    layout = "strided" if case % 2 else "contiguous"
    k = (kernel, kernel) if isinstance(kernel, int) else kernel
    x_host = rng.standard_normal((n, c, h, w)).astype(dtype)
    w_host = (rng.standard_normal((o, c, *k)) / np.sqrt(c * k[0] * k[1])).astype(dtype)
    b_host = rng.standard_normal(o).astype(dtype)
    x, wt, b = place(x_host, layout), place(w_host, layout), m1.asarray(b_host, dtype=dtype)

    y = m1.conv2d_forward(x, wt, b, stride, padding, activation)
    st = (stride, stride) if isinstance(stride, int) else stride
    pads = _pads(kernel, stride, padding)
    z = oracle.conv2d(x_host.astype(np.float64), w_host.astype(np.float64), b_host, st, pads)
    assert y.shape == z.shape and y.dtype == np.dtype(dtype)
    _close(y, oracle.activation(activation, z), dtype)

    dy_host = rng.standard_normal(z.shape).astype(dtype)
    dx, dw, db = m1.conv2d_backward(x, wt, y, place(dy_host, layout), stride, padding, activation)
    delta = dy_host * oracle.activation_grad(activation, host64(y))
    ex, ew, eb = oracle.conv2d_grads(x_host.astype(np.float64), w_host.astype(np.float64), delta, st, pads)
    for got, expected in ((dx, ex), (dw, ew), (db, eb)):
        _close(got, expected, dtype)
    none, dw2, _ = m1.conv2d_backward(x, wt, y, place(dy_host, layout), stride, padding, activation, need_dx=False)
    assert none is None
    _close(dw2, ew, dtype)


def test_conv2d_empty_batch(backend):
    x, w, b = m1.asarray(np.zeros((0, 2, 5, 5))), m1.asarray(np.ones((3, 2, 3, 3))), m1.asarray(np.ones(3))
    y = m1.conv2d_forward(x, w, b)
    assert y.shape == (0, 3, 3, 3)
    dx, dw, db = m1.conv2d_backward(x, w, y, y)
    assert dx.shape == (0, 2, 5, 5) and not host64(dw).any() and not host64(db).any()


# (shape, kernel, stride): odd sizes, overlapping windows, a window that does not tile the image
POOL_CASES = [((2, 3, 7, 5), 2, None), ((1, 2, 9, 8), 3, 2), ((2, 1, 6, 7), (3, 2), (1, 2)), ((3, 2, 4, 4), 4, 1),
              ((2, 2, 5, 6), 2, 1), ((1, 3, 6, 9), 2, None),  # 2x2: the unrolled max window, overlapping, strided
              ((2, 3, 11, 41), 2, None)]  # 2x2 stride 2 on contiguous planes: rows of 20 windows


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", ["max", "avg"])
@pytest.mark.parametrize("case", range(len(POOL_CASES)))
def test_pooling_matches_the_direct_loops(backend, rng, dtype, kind, case):
    shape, kernel, stride = POOL_CASES[case]
    x_host = rng.integers(0, 3, shape).astype(dtype)  # few distinct values: many ties
    x = place(x_host, "strided" if case % 2 else "contiguous")
    k = (kernel, kernel) if isinstance(kernel, int) else kernel
    s = k if stride is None else ((stride, stride) if isinstance(stride, int) else stride)
    expected, where = oracle.pool2d(x_host.astype(np.float64), k, s, kind)
    dy_host = rng.standard_normal(expected.shape).astype(dtype)
    if kind == "max":
        out, argmax = m1.maxpool2d_forward(x, kernel, stride)
        np.testing.assert_array_equal(m1.to_numpy(argmax), where)
        dx = m1.maxpool2d_backward(m1.asarray(dy_host, dtype=dtype), argmax, shape)
    else:
        out = m1.avgpool2d_forward(x, kernel, stride)
        dx = m1.avgpool2d_backward(m1.asarray(dy_host, dtype=dtype), shape, kernel, stride)
    _close(out, expected, dtype)
    _close(dx, oracle.pool2d_backward(dy_host.astype(np.float64), where, shape, k, s, kind), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_maxpool_propagates_nan_and_ties_go_to_the_first(backend, dtype):
    x_host = np.array([[[[1.0, 1.0, 0.0, np.nan, 3.0, 1.0, -1.0, 7.0],
                         [1.0, 0.0, 2.0, 5.0, np.nan, np.nan, 7.0, 7.0]]]])
    for x in (m1.asarray(x_host, dtype=dtype), place(x_host.astype(dtype), "strided")):
        out, argmax = m1.maxpool2d_forward(x, 2)
        got = m1.to_numpy(out)[0, 0, 0]
        assert got[0] == 1.0 and np.isnan(got[1]) and np.isnan(got[2]) and got[3] == 7.0
        np.testing.assert_array_equal(m1.to_numpy(argmax)[0, 0, 0], [0, 3, 12, 7])


def _refused(call, *fragments):
    with pytest.raises(ValueError) as info:
        call()
    for fragment in fragments:
        assert fragment in str(info.value), str(info.value)


def test_bad_input_is_refused_naming_the_shapes(backend):
    x, w, b = m1.asarray(np.zeros((2, 3, 5, 5))), m1.asarray(np.zeros((4, 3, 3, 3))), m1.asarray(np.zeros(4))
    _refused(lambda: m1.conv2d_forward(x[0], w, b), "4-D", "(3, 5, 5)", "x[None]")
    _refused(lambda: m1.conv2d_forward(m1.asarray(np.zeros((2, 1, 5, 5))), w, b), "(2, 1, 5, 5)", "(4, 3, 3, 3)",
             "1 channels")
    _refused(lambda: m1.conv2d_forward(x, m1.asarray(np.zeros((4, 3, 7, 7))), b), "(5, 5)", "(7, 7)", "smaller")
    _refused(lambda: m1.conv2d_forward(x, w, b, stride=0), "stride", ">= 1")
    _refused(lambda: m1.conv2d_forward(x, w, b, stride=(1, -2)), "stride")
    _refused(lambda: m1.conv2d_forward(x, w, b, stride=2, padding="same"), "same", "stride")
    _refused(lambda: m1.conv2d_forward(x, w, m1.asarray(np.zeros(3))), "b.shape=(3,)")
    _refused(lambda: m1.conv2d_backward(x, w, None, m1.asarray(np.zeros((2, 4, 4, 4)))), "dy.shape=(2, 4, 4, 4)",
             "(2, 4, 3, 3)")
    _refused(lambda: m1.maxpool2d_forward(x, 6), "(5, 5)", "(6, 6)")
    _refused(lambda: m1.avgpool2d_forward(x[0], 2), "4-D")
    out, argmax = m1.maxpool2d_forward(x, 2)
    _refused(lambda: m1.maxpool2d_backward(out, argmax, (2, 3, 9, 9)[:3]), "input_shape")


def test_conv_tile_height_wastes_the_fewest_rows():
    """conv_wide.tile_rows: the short tile (2/3 of MR) where the output channels fill it better, MR on a tie."""
    from mark1.kernels.cpu.conv_wide import MR, SHORT_MR, tile_rows

    for channels in (1, 2, 7, 8, 10, 12, 16, 17, 24, 32, 64, 100):
        best = min(-(-channels // r) * r for r in (MR, SHORT_MR))
        rows = tile_rows(channels)
        assert -(-channels // rows) * rows == best
        assert rows == MR or -(-channels // MR) * MR > best
    if (MR, SHORT_MR) == (12, 8):   # the avx512 path: LeNet's 16 channels in two 8-row tiles
        assert tile_rows(16) == 8 and tile_rows(12) == 12 and tile_rows(24) == 12
