"""The numba GEMM on random shapes up to 70 (unpacked, packed single-threaded and packed threaded), at the
edges of the register tile, the narrow-N tile and the K block of this process's ISA path (run again under
MARK1_ISA=avx2 by .ci/run), transposed and sliced views, and its fused epilogue (bias + activation) and
operand transforms (the dense layer's backward) against float64 NumPy."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mark1.backends import unavailable_reason

pytestmark = pytest.mark.skipif(unavailable_reason("numba") is not None, reason=f"numba: {unavailable_reason('numba')}")

TOL = {"float32": 2e-6, "float64": 1e-14}  # x k x sum |a||b|, as tests/oracle.py states for products


def _layout(x: np.ndarray, how: str) -> np.ndarray:
    if how == "transposed":
        return np.ascontiguousarray(x.T).T
    if how == "sliced":  # every other row and column of a bigger array: no unit stride anywhere
        big = np.zeros((2 * x.shape[0], 2 * x.shape[1] + 1), x.dtype)
        big[::2, 1::2] = x
        return big[::2, 1::2]
    return x


def _check_product(got, a, b, k, dtype):
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    bound = TOL[dtype] * max(k, 1) * (np.abs(a64) @ np.abs(b64)) + np.finfo(dtype).tiny
    err = np.abs(got.astype(np.float64) - a64 @ b64)
    assert (err <= bound).all(), f"worst error {err.max():.3g}, bound {bound.max():.3g}"


layouts = st.sampled_from(["contiguous", "transposed", "sliced"])


@settings(max_examples=60, deadline=None)
@given(m=st.integers(1, 70), k=st.integers(1, 70), n=st.integers(1, 70), layout_a=layouts, layout_b=layouts,
       dtype=st.sampled_from(["float32", "float64"]), path=st.sampled_from(["serial", "threaded", "prange"]),
       seed=st.integers(0, 2**16))
def test_gemm_random_shapes(m, k, n, layout_a, layout_b, dtype, path, seed):
    from mark1.kernels.cpu import gemm as kernels
    from mark1.kernels.cpu.dense import gemm

    rng = np.random.default_rng(seed)
    a = rng.standard_normal((m, k)).astype(dtype)
    b = rng.standard_normal((k, n)).astype(dtype)
    out = np.full((m, n), np.nan, dtype)
    # "serial": the default thresholds (these sizes run on one thread); "threaded": every product on mark1's
    # workers; "prange": the same on numba's threads (the path where the workers are unavailable)
    threaded = {"threaded": dict(serial_work=0), "prange": dict(serial_work=0, pooled_work=1 << 62)}
    with kernels.thresholds(**threaded.get(path, {})):
        gemm(_layout(a, layout_a), _layout(b, layout_b), out)
    _check_product(out, a, b, k, dtype)


def _edge_shapes():
    """(m, k, n) at and across MR, NR (full and narrow-N tiles) and KC of this process's table row."""
    from mark1.kernels.cpu.gemm import KC, MR, NR_F32

    half = NR_F32 // 2
    return [(1, 1, 1), (MR - 1, 3, half), (MR, KC, half + 1), (MR + 1, KC + 1, NR_F32 - 1), (2 * MR, 7, NR_F32),
            (2 * MR + 1, 2 * KC + 3, NR_F32 + 1), (257, 300, 129), (64, 784, 10)]


@pytest.mark.parametrize("threaded", [False, True, "prange"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_packed_gemm_tile_and_block_edges(dtype, threaded):
    from mark1.kernels.cpu import gemm as kernels
    from mark1.kernels.cpu.dense import gemm

    for m, k, n in _edge_shapes():
        rng = np.random.default_rng(m * k * n)
        a = rng.standard_normal((m, k)).astype(dtype)
        b = rng.standard_normal((k, n)).astype(dtype)
        out = np.full((m, n), np.nan, dtype)
        pooled = {"prange": 1 << 62}.get(threaded)  # True: mark1's workers; "prange": numba's threads
        with kernels.thresholds(serial_work=0 if threaded else 1 << 62, pooled_work=pooled):
            gemm(a, b.T.copy().T, out)
        _check_product(out, a, b, k, dtype)


@pytest.mark.parametrize("threaded", [False, True])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_transposed_a_packing_edges(dtype, threaded):
    """a = x.T through the packed path (_pack_a_transposed, its vector copies of full panels and the partial
    last panel, the spare row per panel, the next K block's prefetch): N past the in-place limit, and x
    wide enough (rows >= 2 KiB apart over >= 4 K blocks) that even a narrow N packs."""
    from mark1.kernels.cpu import gemm as kernels
    from mark1.kernels.cpu._jit import IDENTITY
    from mark1.kernels.cpu.dense import gemm

    nr, kc, mr = kernels.NR_F32, kernels.KC, kernels.MR
    wide = 2048 // np.dtype(dtype).itemsize + 7
    for m, k, n in [(5 * mr + 7, 2 * kc + 3, 4 * nr + 5), (mr, kc, 5 * nr), (wide, 4 * kc + 1, 10)]:
        rng = np.random.default_rng(m + k + n)
        x = rng.standard_normal((k, m)).astype(dtype)
        b = rng.standard_normal((k, n)).astype(dtype)
        assert not kernels.reads_a_in_place(x.T, IDENTITY, n)
        out = np.full((m, n), np.nan, dtype)
        with kernels.thresholds(serial_work=0 if threaded else 1 << 62):
            gemm(x.T, b, out)
        _check_product(out, x.T, b, k, dtype)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_in_place_products_with_a_partial_row_panel(dtype):
    """op(a) read in place with a partial last row panel of every height (packed alone: pack_a_copy's masked
    loads for a = x.T, its row-by-row copy for a C-contiguous a) and B rows cut by the last column (the
    padded copy into narrow and full panels), over two K blocks."""
    from mark1.kernels.cpu import gemm as kernels
    from mark1.kernels.cpu._jit import IDENTITY
    from mark1.kernels.cpu.dense import gemm

    mr, kc, nr = kernels.MR, kernels.KC, kernels.NR_F32
    rng = np.random.default_rng(7)
    for height in range(1, mr):
        m, k = 3 * mr + height, kc + 5
        for n in (3, nr // 2 + 1, nr + 3):
            b = rng.standard_normal((k, n)).astype(dtype)
            for a in (rng.standard_normal((m, k)).astype(dtype), rng.standard_normal((k, m)).astype(dtype).T):
                assert kernels.reads_a_in_place(a, IDENTITY, n)
                out = np.full((m, n), np.nan, dtype)
                gemm(a, b, out)
                _check_product(out, a, b, k, dtype)


def test_large_products_pack_b_into_a_workspace_per_thread():
    """A B of WORKSPACE_MIN_BYTES or more is packed into a buffer kept per calling thread (no fresh pages per
    call): reused by a second, smaller product (only its front), distinct per thread, right every time."""
    import threading

    from mark1.kernels.cpu import dense

    dtype = np.dtype("float32")
    side = int((dense.WORKSPACE_MIN_BYTES // dtype.itemsize) ** 0.5) + 8
    assert dense.workspace(8, 8, dtype).size == 0  # small: the kernel allocates its own
    results, buffers = {}, {}

    def work(name):
        rng = np.random.default_rng(ord(name[-1]))  # one generator per thread
        for n in (side + 40, side):  # the second fits in the first's workspace
            a = rng.standard_normal((n, n)).astype(dtype)
            b = rng.standard_normal((n, n)).astype(dtype)
            out = np.full((n, n), np.nan, dtype)
            dense.gemm(a, b, out)
            _check_product(out, a, b, n, "float32")
            buffers.setdefault(name, []).append(dense.workspace(n, n, dtype))
        results[name] = True

    threads = [threading.Thread(target=work, args=(f"t{i}",)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    work("main")
    assert len(results) == 3
    for held in buffers.values():
        assert held[0].size > 0 and held[0] is held[1]
    assert buffers["t0"][0] is not buffers["t1"][0] and buffers["main"][0] is not buffers["t0"][0]


def test_micro_tile_api_from_numba_code():
    """micro_tile / micro_tile_out on packed panels (kc, MR) and (kc, NR), as the convolution kernels call them."""
    import numba

    from mark1.kernels.cpu.gemm import MR, NR_F32, micro_tile, micro_tile_out

    @numba.njit
    def both(kc, a, b, t, out):
        micro_tile(kc, a, b, t)
        micro_tile_out(kc, a, b, out, np.uint64(1), np.uint64(2), False)
        micro_tile_out(kc, a, b, out, np.uint64(1), np.uint64(2), True)

    rng = np.random.default_rng(3)
    a = rng.standard_normal((9, MR)).astype(np.float32)
    b = rng.standard_normal((9, NR_F32)).astype(np.float32)
    t = np.zeros((MR, NR_F32), np.float32)
    out = np.zeros((MR + 2, NR_F32 + 3), np.float32)
    both(7, a, b, t, out)
    want = a[:7].T.astype(np.float64) @ b[:7]
    np.testing.assert_allclose(t, want, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(out[1:1 + MR, 2:2 + NR_F32], 2 * want, rtol=1e-5, atol=1e-5)
    assert not out[0].any() and not out[:, :2].any()


PATHS = {"serial": {}, "threaded": dict(serial_work=0), "prange": dict(serial_work=0, pooled_work=1 << 62)}


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("activation", ["identity", "sigmoid", "tanh", "relu"])
def test_fused_dense_matches_reference(path, activation):
    from mark1.kernels.cpu import gemm as kernels

    with kernels.thresholds(**PATHS[path]):
        _check_fused_dense(activation)


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("layout", ["contiguous", "transposed", "sliced"])
def test_b_packing_in_row_chunks_with_transform_and_column_sums(path, layout):
    """op(b) = dy * act'(y) packed in chunks of rows (each with its own column sums, added up after): K spans
    several chunks and K blocks, N a partial last panel; rows of unit stride are packed row by row, other
    layouts (dy and y transposed or sliced) panel by panel."""
    from mark1.kernels.cpu import gemm as kernels
    from mark1.kernels.cpu._jit import ACTIVATION_CODES
    from mark1.kernels.cpu.dense import gemm
    from mark1.kernels.cpu.packing import pack_chunks

    k, m, n = kernels.KC + 45, 19, kernels.NR_F32 + 3
    assert pack_chunks(k) > 1
    rng = np.random.default_rng(k + n)
    x, dy = rng.standard_normal((k, m)), rng.standard_normal((k, n))
    for activation, code in ACTIVATION_CODES.items():
        y = rng.random((k, n)) - 0.25 if activation == "relu" else rng.random((k, n))
        slope = {"identity": 1, "sigmoid": y * (1 - y), "tanh": 1 - y * y, "relu": (y > 0) * 1.0}[activation]
        delta = dy * slope
        for dtype in ("float32", "float64"):
            dw, db = np.full((m, n), np.nan, dtype), np.zeros(n, dtype)
            with kernels.thresholds(**PATHS[path]):
                gemm(x.T.astype(dtype), _layout(dy.astype(dtype), layout), dw, b2=_layout(y.astype(dtype), layout),
                     b_code=code, colsum=db)
            _check_product(dw, x.T, delta, k, dtype)
            np.testing.assert_allclose(db, delta.sum(0), rtol=TOL[dtype] * k, atol=TOL[dtype] * k)


def _check_fused_dense(activation):
    from mark1.kernels import reference
    from mark1.kernels.cpu._jit import ACTIVATION_CODES
    from mark1.kernels.cpu.dense import gemm

    rng = np.random.default_rng(7)
    x, w = rng.standard_normal((67, 45)), rng.standard_normal((45, 23)) * 0.3
    bias, dy = rng.standard_normal(23), rng.standard_normal((67, 23))
    expected = np.empty((67, 23))
    reference.dense_forward(x, w, bias, activation, expected)
    y = np.empty((67, 23))
    gemm(x, w, y, bias=bias, act=ACTIVATION_CODES[activation])
    np.testing.assert_allclose(y, expected, rtol=1e-12, atol=1e-12)

    code = ACTIVATION_CODES[activation]
    dw, db, dx = np.empty_like(w), np.zeros(23), np.empty_like(x)
    gemm(x.T, dy, dw, b2=y, b_code=code, colsum=db)
    gemm(dy, _layout(w, "sliced").T, dx, a2=y, a_code=code)
    want = [np.empty_like(x), np.empty_like(w), np.empty(23)]
    reference.dense_backward(x, w, y, dy, activation, *want)
    for got, ref in zip((dx, dw, db), want, strict=True):
        np.testing.assert_allclose(got, ref, rtol=1e-11, atol=1e-11)


def test_gemm_propagates_nan_and_inf():
    from mark1.kernels.cpu.dense import gemm

    a = np.ones((40, 40), np.float32)
    b = np.ones((40, 40), np.float32)
    a[3, 5], b[7, 9] = np.nan, np.inf
    out = np.empty((40, 40), np.float32)
    gemm(a, b, out)
    expected = a.astype(np.float64) @ b.astype(np.float64)
    np.testing.assert_array_equal(np.isnan(out), np.isnan(expected))
    np.testing.assert_array_equal(np.isinf(out), np.isinf(expected))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_table_tiles_read_and_write_rows_anywhere_in_a_flat_array(dtype):
    """The convolution's in-place tiles against float64: A rows from a table of starts (row_table, full and
    narrow), B rows from a table plus a shift (short_tile b_table, MR and short heights), and out rows from a
    table, overlapping as col2im's runs do (out_table: rows are added one after another)."""
    import numba

    from mark1.kernels.cpu.microkernel import (
        register_narrow_tile_row_table,
        register_tile_out_table,
        register_tile_row_table,
        short_tile,
        tile_shape,
    )
    from mark1.kernels.cpu.params import PARAMS

    mr, nr, lanes = tile_shape(numba.from_dtype(np.dtype(dtype)))
    short, b_full, b_short = PARAMS.short_mr, short_tile(mr, b_table=True), short_tile(PARAMS.short_mr, b_table=True)

    @numba.njit
    def run(kc, flat, a_starts, b_panel, b_narrow, out, out_narrow, a_panel, a_short, b_starts, shift, c, c_short,
            target, out_starts):
        register_tile_row_table(kc, flat, b_panel, out, 0, 0, False, a_starts)
        register_narrow_tile_row_table(kc, flat, b_narrow, out_narrow, 0, 0, False, a_starts)
        b_full(kc, a_panel, flat, c, 0, 0, False, b_starts, shift)
        b_short(kc, a_short, flat, c_short, 0, 0, False, b_starts, shift)
        register_tile_out_table(kc, a_panel, b_panel, target, 0, 0, True, out_starts)

    rng = np.random.default_rng(5)
    kc, size = 11, 600
    flat = rng.standard_normal(size).astype(dtype)
    a_starts = rng.integers(0, size - kc, mr).astype(np.int64)
    b_starts = rng.integers(0, size - nr - 3, kc).astype(np.int64)
    out_starts = (np.arange(mr) * 3 + 4).astype(np.int64)  # rows 3 apart, nr wide: they overlap
    b_panel = rng.standard_normal((kc, nr)).astype(dtype)
    a_panel = rng.standard_normal((kc, mr)).astype(dtype)
    a_short = np.ascontiguousarray(a_panel[:, :short])
    out, out_narrow = np.empty((mr, nr), dtype), np.empty((mr, nr // 2), dtype)
    c, c_short = np.empty((mr, nr), dtype), np.empty((short, nr), dtype)
    target = rng.standard_normal(size).astype(dtype)
    expected_target = target.astype(np.float64)
    run(kc, flat, a_starts, b_panel, np.ascontiguousarray(b_panel[:, :nr // 2]), out, out_narrow, a_panel, a_short,
        b_starts, 3, c, c_short, target, out_starts)
    f64 = flat.astype(np.float64)
    a_rows = np.stack([f64[s:s + kc] for s in a_starts], axis=1)          # (kc, MR)
    b_rows = np.stack([f64[s + 3:s + 3 + nr] for s in b_starts])          # (kc, NR)
    tol = 1e-5 if dtype == "float32" else 1e-12
    np.testing.assert_allclose(out, a_rows.T @ b_panel, rtol=tol, atol=tol)
    np.testing.assert_allclose(out_narrow, a_rows.T @ b_panel[:, :nr // 2], rtol=tol, atol=tol)
    np.testing.assert_allclose(c, a_panel.T.astype(np.float64) @ b_rows, rtol=tol, atol=tol)
    np.testing.assert_allclose(c_short, a_short.T.astype(np.float64) @ b_rows, rtol=tol, atol=tol)
    tile = a_panel.T.astype(np.float64) @ b_panel
    for i, start in enumerate(out_starts):
        expected_target[start:start + nr] += tile[i]
    np.testing.assert_allclose(target, expected_target, rtol=tol, atol=tol)


@pytest.mark.parametrize("threaded", [False, True])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_few_rows_times_a_large_b(dtype, threaded):
    """A few rows of a (one sample through a layer) times a large B: few_rows.py reads B in place, no packing.
    K not a multiple of its step of four, N across more than one span and not a multiple of the vector width,
    a transposed or sliced a, B with unit-stride rows inside a bigger array, bias and every activation; a
    transposed B (no unit-stride rows) takes the packed GEMM and agrees."""
    from mark1.kernels import reference
    from mark1.kernels.cpu import few_rows
    from mark1.kernels.cpu import gemm as kernels
    from mark1.kernels.cpu._jit import ACTIVATION_CODES, threaded_kernels
    from mark1.kernels.cpu.dense import gemm

    rng = np.random.default_rng(17)
    k, n = 203, few_rows.SPAN + 37
    assert k * n >= few_rows.MIN_B
    for m in (1, 2, few_rows.MAX_ROWS):
        a = rng.standard_normal((m, k)).astype(dtype)
        big = rng.standard_normal((2 * k, n + 5)).astype(dtype)
        for layout_a in ("contiguous", "transposed", "sliced"):
            for b in (big[:k, :n].copy(), big[::2, 3:3 + n], np.ascontiguousarray(big[:k, :n].T).T):
                out = np.full((m, n), np.nan, dtype)
                with threaded_kernels(threaded), kernels.thresholds(serial_work=0 if threaded else 1 << 62):
                    gemm(_layout(a, layout_a), b, out)
                _check_product(out, a, b, k, dtype)
        bias = rng.standard_normal(n).astype(dtype)
        for activation, code in ACTIVATION_CODES.items():
            b = big[:k, :n]
            y = np.empty((m, n), dtype)
            gemm(a, b, y, bias=bias, act=code)
            expected = np.empty((m, n))
            reference.dense_forward(a.astype(np.float64), b.astype(np.float64), bias.astype(np.float64),
                                    activation, expected)
            np.testing.assert_allclose(y, expected, rtol=TOL[dtype] * k * 50, atol=TOL[dtype] * k * 50)
