"""matmul and the fused dense layer (forward and backward) on top of the packed GEMM in gemm.py."""

from __future__ import annotations

import threading

import numpy as np

from mark1.kernels.cpu import few_rows, gemm_pooled, workers
from mark1.kernels.cpu import gemm as kernels
from mark1.kernels.cpu._intrinsics import ALIGN_PAD
from mark1.kernels.cpu._jit import ACTIVATION_CODES, IDENTITY, PerDtype
from mark1.threads import kernel_threads

FEW_ROWS, FEW_ROWS_MIN_B = few_rows.MAX_ROWS, few_rows.MIN_B
_NO_ARRAY = {np.dtype(np.float32): np.empty(0, np.float32), np.dtype(np.float64): np.empty(0, np.float64)}
# The packed copy of a B of at least this many bytes goes into a workspace kept per calling thread (see workspace)
WORKSPACE_MIN_BYTES = 256 << 10
WORKSPACE_MAX_BYTES = 64 << 20  # larger ones are allocated per call: the page faults are a few % of such products
_WORKSPACES = threading.local()


def workspace(depth: int, cols: int, dtype: np.dtype) -> np.ndarray:
    """A buffer at least as large as the packed B of a depth x cols op(b), kept for the calling thread, or an
    empty array (the kernel then allocates its own) when that is small or huge.

    Why: the packed B was a fresh allocation inside every call. Freed together with a fresh output, a
    1024^2 product's 8 MiB exceeded glibc's heap trim threshold, so every call gave the pages back and
    faulted them in again: `m1.matmul(a, b)` at 1024^2 took 10.7 ms with 1640 page faults a call, against
    6.7 ms with `out=` given and NumPy's 5.9 (OpenBLAS keeps its buffers). Held per thread because two
    Python threads may multiply at once; at most WORKSPACE_MAX_BYTES per thread and dtype.
    """
    need = (depth + depth // kernels.KC + 1) * (cols + kernels.NR_F32) + ALIGN_PAD  # >= gemm.plan's buffer
    if not WORKSPACE_MIN_BYTES <= need * dtype.itemsize <= WORKSPACE_MAX_BYTES:
        return _NO_ARRAY[dtype]
    held = _WORKSPACES.__dict__
    ws = held.get(dtype)
    if ws is None or ws.size < need:
        ws = held[dtype] = np.empty(need, dtype)
    return ws


def gemm(a, b, out, *, a2=None, a_code=IDENTITY, b2=None, b_code=IDENTITY, bias=None, act=IDENTITY,
         colsum=None) -> None:
    """out = act(op(a) @ op(b) + bias), with op(x) = x * act'(x2) when x_code is an activation.

    Every product runs the packed GEMM, the smallest too: an unpacked row-by-row loop for products up to
    16^3 multiply-adds measured slower at nearly every such shape (us, unpacked / packed: 16x16x16 4.9 / 2.1,
    5x64x32 7.4 / 3.1, 32x5x10 3.2 / 1.8; a single row 1x64x32 2.4 / 3.1) and cost a first fit 0.24 s of
    compiling for its last, short batch. A product with no transform, bias, activation or column sums runs
    the plain variant, so a first matmul compiles none of the fused code. The exception: a few rows of op(a)
    (up to one register tile's height) times a large untransformed B (one sample through a layer), where
    packing all of B is nearly all of the work: few_rows.py reads B once, in place.
    """
    # (this runs before every product, the smallest too: the tests are ordered so a plain one does few)
    empty = _NO_ARRAY[out.dtype]
    untransformed = b2 is None and colsum is None
    if not untransformed and not (_unit_rows(b) and (b2 is None or _unit_rows(b2))):
        # the transforming packer reads rows of unit stride only (packing.pack_b_panels); a dy or y of another
        # layout (a user's transposed or sliced view) is copied once instead
        b = np.ascontiguousarray(b)
        b2 = None if b2 is None else np.ascontiguousarray(b2)
    rows, cols = out.shape
    depth = b.shape[0]
    if (rows <= FEW_ROWS and untransformed and a2 is None and a_code == b_code == IDENTITY
            and depth * cols >= FEW_ROWS_MIN_B and b.strides[1] == b.itemsize):
        few_rows.few_rows_gemm(a, b, out, empty if bias is None else bias, act)  # B read once, unpacked
        return
    work = rows * depth * cols
    fused = not (untransformed and a2 is None and bias is None and act == IDENTITY)
    a2, b2 = a if a2 is None else a2, b if b2 is None else b2
    bias, colsum = empty if bias is None else bias, empty if colsum is None else colsum
    in_place = kernels.reads_a_in_place(a, a_code, cols)
    ws = _workspace_for(depth, cols, out)
    small = work < kernels.POOLED_SERIAL_WORK and not PerDtype.always_threaded
    threads = 0 if small else workers.threads_for(work, kernels.POOLED_SERIAL_WORK, kernels.WAKE_WORK)
    if threads:
        gemm_pooled.gemm_pooled(fused, in_place, a, a2, a_code, b, b2, b_code, out, bias, act, colsum, threads, ws)
        return
    kernel = kernels.PACKED_KERNELS[fused, in_place]
    # below the kernel's serial threshold (gemm.thresholds() changes it in tests) its single-threaded twin
    # runs, planned for one thread
    serial = work < kernel.serial_below and not PerDtype.always_threaded
    threads = 1 if serial else kernel_threads()
    if fused:
        kernel.run(serial, a, a2, a_code, b, b2, b_code, out, bias, act, colsum, threads, ws)
    else:  # the plain kernel's five arguments (gemm._gemm_packed_plain: why)
        kernel.run(serial, a, b, out, threads, ws)


def matmul(a, b, out) -> None:
    """out = a @ b, the op table's matmul: gemm's single-threaded plain case without gemm's keyword parameters
    and fused-case tests (0.4-0.5 us of the 8 us `m1.matmul` took for 256x64 . 64x10 on the Xeon, where
    NumPy's whole call takes 6). Few rows, or enough work for the workers, go through gemm."""
    rows, cols = out.shape
    depth = b.shape[0]
    work = rows * depth * cols
    if rows <= FEW_ROWS or work >= kernels.POOLED_SERIAL_WORK or PerDtype.always_threaded:
        gemm(a, b, out)
        return
    kernel = kernels.PACKED_KERNELS[False, kernels.reads_a_in_place(a, IDENTITY, cols)]
    serial = work < kernel.serial_below
    kernel.run(serial, a, b, out, 1 if serial else kernel_threads(), _workspace_for(depth, cols, out))


def _workspace_for(depth: int, cols: int, out):
    """The packed-B workspace for a depth x cols op(b), or an empty array where the kernel allocates its own."""
    if depth * cols * out.itemsize >= WORKSPACE_MIN_BYTES // 2:
        return workspace(depth, cols, out.dtype)
    return _NO_ARRAY[out.dtype]


def _unit_rows(x) -> bool:
    return x.strides[1] == x.itemsize or x.shape[1] <= 1


def dense_forward(x, w, b, activation, out):
    """act(x @ w + b): the bias and activation are applied to each output tile while it is in cache."""
    gemm(x, w, out, bias=b, act=ACTIVATION_CODES[activation])


def dense_backward(x, w, y, dy, activation, dx, dw, db):
    """delta = dy * act'(y) is formed while packing (never stored); db is summed in the same pass.

    dw = x.T @ delta, db = delta.sum(0), dx = delta @ w.T (skipped when dx is None).
    """
    code = ACTIVATION_CODES[activation]
    db.fill(0)
    gemm(x.T, dy, dw, b2=y, b_code=code, colsum=db)
    if dx is not None:
        gemm(dy, w.T, dx, a2=y, a_code=code)
