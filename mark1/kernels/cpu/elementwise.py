"""Activations and their backward passes: one parallel pass over memory, any shape, any strides.

Contiguous arrays run as flat 1-D loops split into chunks across threads (LLVM vectorises the chunk loop);
strided views (transposed, sliced) run row by row on their 2-D form, indexing through the strides instead
of copying.
"""

from __future__ import annotations

import numba
import numpy as np
from numba import int64, prange

from mark1.kernels.cpu import workers
from mark1.kernels.cpu._atomics import array_at, slot_at
from mark1.kernels.cpu._intrinsics import prefer_full_vector_width
from mark1.kernels.cpu._jit import (
    ACTIVATION_CODES,
    RELU,
    SIGMOID,
    TANH,
    PerDtype,
    cdiv,
    jit,
    jit_inline,
    per_dtype,
    readonly,
)
from mark1.kernels.cpu.expmath import activate, activation_slope, sigmoid_scalar, tanh_scalar
from mark1.kernels.cpu.params import PARAMS
from mark1.threads import kernel_threads

CHUNK = 16384  # elements per parallel task: 64 KiB of float32, large enough to hide the scheduling cost
# Work per element, in units of the serial threshold (params.elementwise_serial_below, a memory-bound pass):
# sigmoid and tanh cost ~3x a copy per element in cache (a polynomial and a division), so threads pay off
# at half the size. Break-even n = 2 * wake-up cost / per-element time: ~10 us / 0.35 ns = 2^16 for sigmoid.
FORWARD_COST = (1, 2, 2, 1)  # indexed by IDENTITY, SIGMOID, TANH, RELU


def _forward_work(x, out, code) -> int:
    return x.size * FORWARD_COST[code]


@jit_inline
def _lead(out):
    """Elements of out before its first 64-byte boundary (0-15 float32): chunk 0 takes those alone.

    A vector store across two cache lines costs two: numpy allocates with 16-byte alignment, and a 2^16
    relu into an output at +16 or +32 bytes took 5.5-5.8 us against 4.7-4.9 aligned (Xeon, two threads)."""
    offset = np.int64(out.ctypes.data % np.uint64(64))  # (unsigned and signed together would make a float)
    return ((64 - offset) % 64) // out.itemsize


@jit_inline
def _chunks(n, lead):
    return 1 + cdiv(max(0, n - lead), CHUNK)


@jit_inline
def _chunk(c, lead, n):
    """[lo, hi) of chunk c: chunk 0 is the first `lead` elements (up to out's first 64-byte boundary), each
    later one CHUNK elements from there, so every full chunk's stores start on a cache line."""
    if c == 0:
        return 0, min(lead, n)
    lo = lead + (c - 1) * CHUNK
    return lo, min(n, lo + CHUNK)


@jit_inline
def _forward_span(x, out, code):
    """out[i] = act(x[i]) over two 1-D views of one length.

    One loop per activation (not one branch inside one loop) so each loop vectorises on its own. The
    loops run over range(n) on views, never range(lo, hi) on the whole array: an index that starts at 0
    is known to be non-negative, so numba's negative-index wraparound folds away; with a start that could
    be negative LLVM kept the wraparound select and vectorised with gathers and scatters (8x slower).
    """
    prefer_full_vector_width()
    n = x.shape[0]
    if code == SIGMOID:
        for i in range(n):
            out[i] = sigmoid_scalar(x[i])
    elif code == TANH:
        for i in range(n):
            out[i] = tanh_scalar(x[i])
    elif code == RELU:
        for i in range(n):
            out[i] = activate(x[i], RELU)
    else:
        for i in range(n):
            out[i] = x[i]


@jit_inline
def _backward_span(y, dy, out, code):
    prefer_full_vector_width()
    n = y.shape[0]
    if code == SIGMOID:
        for i in range(n):
            out[i] = dy[i] * activation_slope(y[i], SIGMOID)
    elif code == TANH:
        for i in range(n):
            out[i] = dy[i] * activation_slope(y[i], TANH)
    elif code == RELU:
        for i in range(n):
            out[i] = dy[i] * activation_slope(y[i], RELU)
    else:
        for i in range(n):
            out[i] = dy[i]


@per_dtype(lambda t: (readonly(t, 1, "C"), t[::1], int64), parallel=True, work=_forward_work)
def _forward_flat(x, out, code):
    n = x.size
    lead = _lead(out)
    for c in prange(_chunks(n, lead)):
        lo, hi = _chunk(c, lead, n)
        _forward_span(x[lo:hi], out[lo:hi], code)


@per_dtype(lambda t: (readonly(t, 2), t[:, :], int64), parallel=True, work=_forward_work)
def _forward_rows(x, out, code):
    for i in prange(x.shape[0]):
        _forward_span(x[i], out[i], code)


@per_dtype(lambda t: (readonly(t, 1, "C"), readonly(t, 1, "C"), t[::1], int64), parallel=True)
def _backward_flat(y, dy, out, code):
    n = y.size
    lead = _lead(out)
    for c in prange(_chunks(n, lead)):
        lo, hi = _chunk(c, lead, n)
        _backward_span(y[lo:hi], dy[lo:hi], out[lo:hi], code)


@per_dtype(lambda t: (readonly(t, 2), readonly(t, 2), t[:, :], int64), parallel=True)
def _backward_rows(y, dy, out, code):
    for i in prange(y.shape[0]):
        _backward_span(y[i], dy[i], out[i], code)


# --- the same flat loops as jobs for mark1's worker threads (workers.py): ~1 us to start instead of ~6 ---
# From POOLED_BELOW elements (two chunks) a contiguous array's chunks go to the workers, whatever the
# activation. Measured on 2 vCPUs (Xeon, us one thread / pooled on two): 2^15 relu 3.5 / 2.9, sigmoid
# 8.7 / 5.2, tanh 8.7 / 5.2, sigmoid_backward 4.1 / 2.9; 2^14 is a single chunk, so no gain is possible.
POOLED_BELOW = PARAMS.pooled_serial_below
X_TYPE = OUT_TYPE = None  # set per dtype in each task's copy (renamed): numba folds them as constants


def _forward_task(params, chunk):
    x = array_at(params, 0, X_TYPE)
    out = array_at(params, 3, OUT_TYPE)
    lo, hi = _chunk(chunk, slot_at(params, 7), x.shape[0])
    _forward_span(x[lo:hi], out[lo:hi], slot_at(params, 6))


def _backward_task(params, chunk):
    y = array_at(params, 0, X_TYPE)
    dy = array_at(params, 3, X_TYPE)
    out = array_at(params, 6, OUT_TYPE)
    lo, hi = _chunk(chunk, slot_at(params, 10), y.shape[0])
    _backward_span(y[lo:hi], dy[lo:hi], out[lo:hi], slot_at(params, 9))


def _task_addresses(func):
    """dtype -> the C address of func's task for that dtype, compiled (or loaded from the cache) on first
    use; a dict per op, looked up by dtype alone on every call."""
    addresses: dict = {}

    def address(dtype: np.dtype) -> int:
        found = addresses.get(dtype)
        if found is None:
            t = numba.from_dtype(dtype)
            found = addresses[dtype] = workers.compile_task(func, "_" + dtype.name, X_TYPE=readonly(t, 1, "C"),
                                                             OUT_TYPE=t[::1])
        return found

    return address


@jit
def _forward_pooled(x, out, code, control, task, threads):
    params = np.empty(8, np.int64)
    workers.put_array(params, 0, x)
    workers.put_array(params, 3, out)
    params[6], params[7] = code, _lead(out)
    workers.run(control, task, params, _chunks(x.shape[0], params[7]), threads)


@jit
def _backward_pooled(y, dy, out, code, control, task, threads):
    params = np.empty(11, np.int64)
    workers.put_array(params, 0, y)
    workers.put_array(params, 3, dy)
    workers.put_array(params, 6, out)
    params[9], params[10] = code, _lead(out)
    workers.run(control, task, params, _chunks(y.shape[0], params[10]), threads)


def as_rows(x: np.ndarray) -> np.ndarray | None:
    """A 2-D view of x (never a copy), or None when x's strides cannot be flattened that way."""
    if x.ndim == 2:
        return x
    if x.ndim < 2:
        return x.reshape(1, -1) if x.ndim == 0 else x[None, :]
    view = x.view()
    try:
        view.shape = (-1, x.shape[-1])  # assigning .shape never copies: it raises if no view exists
    except AttributeError:
        return None
    return view


def row_views(*arrays: np.ndarray):
    """Yield tuples of 2-D views covering same-shape arrays: one tuple if they all flatten, else one per
    index of the leading axes (a 4-D transposed view, say). Kernels then only ever see 2-D arrays."""
    if arrays[0].ndim <= 2:  # the common case, without the generality below
        yield tuple(a if a.ndim == 2 else a[None, :] if a.ndim == 1 else a.reshape(1, 1) for a in arrays)
        return
    flat = [as_rows(a) for a in arrays]
    if all(f is not None for f in flat):
        yield tuple(flat)
        return
    for index in np.ndindex(arrays[0].shape[:-2]):
        yield tuple(a[index] for a in arrays)


def flat_view(x: np.ndarray) -> np.ndarray:
    return x if x.ndim == 1 else x.reshape(-1)  # reshape costs ~0.2 us a call, a tenth of a 2^12 sigmoid


def _unary(code: int):
    task_address = _task_addresses(_forward_task)

    def op(x, out):
        if x.flags.c_contiguous:
            x1, out1 = flat_view(x), flat_view(out)
            # workers.threads_for's rule written out (0.2 us of a 3 us 2^16 relu): one thread set runs every
            # chunk on the caller, inside workers.run
            if workers.WORKERS and workers.AVAILABLE and (x1.size >= POOLED_BELOW or PerDtype.always_threaded):
                _forward_pooled(x1, out1, code, workers.control(), task_address(x1.dtype), kernel_threads())
            else:  # small, or no workers here (numba's threads then, above the serial threshold)
                _forward_flat(x1, out1, code)
        else:
            for x2, out2 in row_views(x, out):
                _forward_rows(x2, out2, code)

    return op


def _binary(code: int):
    task_address = _task_addresses(_backward_task)

    def op(y, dy, out):
        if y.flags.c_contiguous and dy.flags.c_contiguous:
            y1, dy1, out1 = flat_view(y), flat_view(dy), flat_view(out)
            if workers.WORKERS and workers.AVAILABLE and (y1.size >= POOLED_BELOW or PerDtype.always_threaded):
                _backward_pooled(y1, dy1, out1, code, workers.control(), task_address(y1.dtype), kernel_threads())
            else:
                _backward_flat(y1, dy1, out1, code)
        else:
            for y2, dy2, out2 in row_views(y, dy, out):
                _backward_rows(y2, dy2, out2, code)

    return op


sigmoid = _unary(ACTIVATION_CODES["sigmoid"])
tanh = _unary(ACTIVATION_CODES["tanh"])
relu = _unary(ACTIVATION_CODES["relu"])
sigmoid_backward = _binary(ACTIVATION_CODES["sigmoid"])
tanh_backward = _binary(ACTIVATION_CODES["tanh"])
relu_backward = _binary(ACTIVATION_CODES["relu"])
