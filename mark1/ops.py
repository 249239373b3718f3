"""The public ops (`m1.matmul`, `m1.sigmoid`, ...): check the input once, then run the current backend's kernel.

Kernels receive owned, same-dtype float arrays and C-contiguous outputs; empty cases are settled here so
no kernel has to handle them.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from mark1.backends.registry import get_backend
from mark1.checks import (
    check_float,
    check_owned,
    check_same_shape,
    describe,
    float_arrays,
    float_one,
    output,
    refuse_overlap,
)

Array = Any  # a numpy.ndarray or cupy.ndarray, depending on the backend


def asarray(x: Any, dtype: Any = None) -> Array:
    """Move/convert `x` onto the current backend: float32 unless `dtype` says otherwise."""
    be = get_backend()
    target = np.dtype("float32" if dtype is None else dtype)
    if target.kind not in "fiub":
        raise TypeError(f"asarray: dtype {target} is not supported; use float32, float64 or an integer type")
    if not be.owns(x):
        x = to_numpy(x)
    if x.dtype.kind not in "fiub":
        raise TypeError(f"asarray: cannot convert an array of dtype {x.dtype} to {target}")
    return be.asarray(x, target)


def to_numpy(x: Any) -> np.ndarray:
    """A host NumPy array holding `x` (a copy from the GPU, the array itself on the CPU)."""
    if isinstance(x, np.ndarray):
        return x
    get = getattr(x, "get", None)  # cupy.ndarray.get() copies device -> host
    if callable(get) and type(x).__module__.startswith("cupy"):
        return get()
    arr = np.asarray(x)
    if arr.dtype == object:
        raise TypeError(f"to_numpy: cannot convert a {describe(x)} holding Python objects to a numeric array")
    return arr


def matmul(a: Array, b: Array, out: Array | None = None) -> Array:
    """C = A @ B for 2-D arrays; transposed and non-contiguous views are accepted."""
    be = get_backend()
    dtype = float_arrays(be, "matmul", ("a", "b"), a, b)
    shape_a, shape_b = a.shape, b.shape  # (each .shape builds a tuple: read once on this per-call path)
    if len(shape_a) != 2 or len(shape_b) != 2:
        raise ValueError(f"matmul: expects 2-D arrays, got a.shape={shape_a} and b.shape={shape_b}")
    rows, depth = shape_a
    if depth != shape_b[0]:
        raise ValueError(f"matmul: a.shape={shape_a} and b.shape={shape_b} do not chain (a.shape[1] != b.shape[0])")
    if out is None:
        out = be.xp.empty((rows, shape_b[1]), dtype)
    else:
        out = output(be, "matmul", out, (rows, shape_b[1]), dtype)
        refuse_overlap(be, "matmul", out, ("a", "b"), a, b)
    if rows == 0 or shape_b[1] == 0:
        return out
    if depth == 0:
        out.fill(0)
        return out
    be.ops["matmul"](a, b, out)
    return out


def _elementwise(op: str, x: Array, out: Array | None) -> Array:
    be = get_backend()
    dtype = float_one(be, op, x)
    out = be.xp.empty(x.shape, dtype=dtype) if out is None else output(be, op, out, x.shape, dtype)
    if x.size:
        be.ops[op](x, out)
    return out


def sigmoid(x: Array, out: Array | None = None) -> Array:
    """σ(x) = 1 / (1 + e^-x), stable for all inputs: σ(±1000) is exactly 1/0, NaN propagates."""
    return _elementwise("sigmoid", x, out)


def tanh(x: Array, out: Array | None = None) -> Array:
    return _elementwise("tanh", x, out)


def relu(x: Array, out: Array | None = None) -> Array:
    return _elementwise("relu", x, out)


def _backward(op: str, y: Array, dy: Array, out: Array | None) -> Array:
    be = get_backend()
    dtype = float_arrays(be, op, ("y", "dy"), y, dy)
    if y.shape != dy.shape:
        check_same_shape(op, y=y, dy=dy)
    out = be.xp.empty(y.shape, dtype=dtype) if out is None else output(be, op, out, y.shape, dtype)
    if y.size:
        be.ops[op](y, dy, out)
    return out


def sigmoid_backward(y: Array, dy: Array, out: Array | None = None) -> Array:
    """dy * y * (1 - y), from the saved output y = σ(x)."""
    return _backward("sigmoid_backward", y, dy, out)


def tanh_backward(y: Array, dy: Array, out: Array | None = None) -> Array:
    """dy * (1 - y²), from the saved output y = tanh(x)."""
    return _backward("tanh_backward", y, dy, out)


def relu_backward(y: Array, dy: Array, out: Array | None = None) -> Array:
    """dy where y > 0 else 0, from the saved output y = relu(x)."""
    return _backward("relu_backward", y, dy, out)


def _as_rows(be, x: Array, axis: int) -> tuple[Array, Any]:
    """x with `axis` moved last and flattened to (rows, classes), plus how to undo it."""
    moved = be.xp.moveaxis(x, axis, -1)
    rows = moved.reshape(-1, moved.shape[-1]) if moved.ndim != 2 else moved
    return rows, moved.shape


def softmax(x: Array, axis: int = -1, out: Array | None = None) -> Array:
    """e^x / Σ e^x along `axis`, with the max subtracted first so nothing overflows."""
    be = get_backend()
    dtype = check_float(be, "softmax", x=x)
    if x.ndim == 0:
        raise ValueError("softmax: expects at least a 1-D array, got a 0-d one")
    out = output(be, "softmax", out, x.shape, dtype)
    if x.size == 0:
        return out
    rows, moved_shape = _as_rows(be, x, axis)
    result = be.empty(rows.shape, dtype)
    be.ops["softmax"](rows, result)
    out[...] = be.xp.moveaxis(result.reshape(moved_shape), -1, axis)
    return out


def softmax_backward(y: Array, dy: Array, out: Array | None = None) -> Array:
    """y * (dy - Σ dy·y) over the last axis of 2-D arrays, from the saved output y = softmax(x)."""
    be = get_backend()
    dtype = check_float(be, "softmax_backward", y=y, dy=dy)
    check_same_shape("softmax_backward", y=y, dy=dy)
    if y.ndim != 2:
        raise ValueError(f"softmax_backward: expects 2-D (rows, classes), got shape {y.shape}")
    out = output(be, "softmax_backward", out, y.shape, dtype)
    if y.size:
        be.ops["softmax_backward"](y, dy, out)
    return out


def image_diff(a: Array, b: Array, out: Array | None = None) -> Array:
    """Per pixel, the largest absolute channel difference of two uint8 images (H, W, C) or (H, W), float32."""
    be = get_backend()
    check_owned(be, "image_diff", a=a, b=b)
    for name, x in (("a", a), ("b", b)):
        if x.dtype.name != "uint8" or x.ndim not in (2, 3):
            raise TypeError(f"image_diff: {name} is {x.dtype} with shape {x.shape}; expected uint8 (H, W) or (H, W, C)")
    check_same_shape("image_diff", a=a, b=b)
    if a.ndim == 2:
        a, b = a[:, :, None], b[:, :, None]
    out = output(be, "image_diff", out, a.shape[:2], np.dtype("float32"))
    if out.size:
        be.ops["image_diff"](a, b, out)
    return out
