"""Public convolution and pooling ops (`m1.conv2d_forward`, `m1.maxpool2d_forward`, ...), NCHW as torch.

Same pattern as ops.py: check everything (errors name the shapes), allocate C-contiguous outputs, settle
empty batches, then call the backend's kernel. Geometry: an output pixel (oh, ow) sees the input rows
oh*sh - top ... oh*sh - top + kh - 1 of the zero-padded image, and OH = (H + top + bottom - kh) // sh + 1.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from mark1.backends.registry import get_backend
from mark1.checks import check_float, check_owned, output, refuse_overlap
from mark1.layer_ops import _check_activation

Array = Any
Pair = int | tuple[int, int]


def pair(op: str, name: str, value: Any, minimum: int = 1) -> tuple[int, int]:
    """An int or an (h, w) pair as (h, w), each an int >= minimum; anything else is a ValueError naming it."""
    values = tuple(value) if isinstance(value, tuple | list) else (value, value)
    if len(values) != 2 or not all(isinstance(v, int | np.integer) and not isinstance(v, bool) for v in values):
        raise ValueError(f"{op}: {name} must be an int or a pair of ints, got {value!r}")
    if any(v < minimum for v in values):
        raise ValueError(f"{op}: {name} must be >= {minimum}, got {value!r}")
    return int(values[0]), int(values[1])


def resolve_padding(op: str, padding: Any, kernel: tuple[int, int], stride: tuple[int, int]) -> tuple[int, ...]:
    """(top, bottom, left, right) from an int, an (h, w) pair or "same" (stride 1 only; for an even kernel
    the extra row/column goes after, as torch does)."""
    if isinstance(padding, str):
        if padding != "same":
            raise ValueError(f"{op}: padding must be an int, a pair or 'same', got {padding!r}")
        if stride != (1, 1):
            raise ValueError(f"{op}: padding='same' needs stride 1 (as in torch), got stride {stride}")
        (kh, kw) = kernel
        return (kh - 1) // 2, kh // 2, (kw - 1) // 2, kw // 2
    ph, pw = pair(op, "padding", padding, minimum=0)
    return ph, ph, pw, pw


def output_size(op: str, image: tuple[int, int], kernel: tuple[int, int], stride: tuple[int, int],
                pads: tuple[int, ...] = (0, 0, 0, 0)) -> tuple[int, int]:
    """(OH, OW) in floor mode; an image smaller than the kernel after padding is a ValueError naming both."""
    padded = (image[0] + pads[0] + pads[1], image[1] + pads[2] + pads[3])
    if padded[0] < kernel[0] or padded[1] < kernel[1]:
        raise ValueError(f"{op}: the image {tuple(image)} padded to {padded} is smaller than the kernel "
                         f"{tuple(kernel)}")
    return (padded[0] - kernel[0]) // stride[0] + 1, (padded[1] - kernel[1]) // stride[1] + 1


def _check_images(op: str, **arrays: Array) -> None:
    for name, x in arrays.items():
        if x.ndim != 4:
            raise ValueError(f"{op}: {name} must be 4-D (batch, channels, height, width), got shape {tuple(x.shape)}"
                             + (" (add the batch axis: x[None])" if x.ndim == 3 else ""))


def _check_conv(op: str, x: Array, w: Array, b: Array) -> None:
    _check_images(op, x=x, w=w)
    if b.ndim != 1 or b.shape[0] != w.shape[0]:
        raise ValueError(f"{op}: b.shape={tuple(b.shape)} does not fit w.shape={tuple(w.shape)} (need ({w.shape[0]},))")
    if w.shape[1] == 0:
        raise ValueError(f"{op}: w.shape={tuple(w.shape)} has no input channels")
    if x.shape[1] != w.shape[1]:
        raise ValueError(f"{op}: x.shape={tuple(x.shape)} has {x.shape[1]} channels but w.shape={tuple(w.shape)} "
                         f"expects {w.shape[1]}")


def _conv_geometry(op: str, x: Array, w: Array, stride: Pair, padding: Any):
    stride = pair(op, "stride", stride)
    kernel = (int(w.shape[2]), int(w.shape[3]))
    if 0 in kernel:
        raise ValueError(f"{op}: w.shape={tuple(w.shape)} has an empty kernel")
    pads = resolve_padding(op, padding, kernel, stride)
    out_hw = output_size(op, tuple(x.shape[2:]), kernel, stride, pads)
    return stride, (pads[0], pads[2]), (x.shape[0], w.shape[0], *out_hw)


def conv2d_forward(x: Array, w: Array, b: Array, stride: Pair = 1, padding: Any = 0, activation: str = "identity",
                   out: Array | None = None) -> Array:
    """act(conv(x, w) + b): x (N, C, H, W), w (O, C, kh, kw), b (O,) -> (N, O, OH, OW); torch's cross-correlation.

    stride, padding: an int or an (h, w) pair; padding="same" (stride 1) keeps H and W.
    """
    be = get_backend()
    dtype = check_float(be, "conv2d_forward", x=x, w=w, b=b)
    _check_activation("conv2d_forward", activation)
    _check_conv("conv2d_forward", x, w, b)
    stride, pad, shape = _conv_geometry("conv2d_forward", x, w, stride, padding)
    given = out is not None
    out = output(be, "conv2d_forward", out, shape, dtype)
    if given:
        refuse_overlap(be, "conv2d_forward", out, ("x", "w", "b"), x, w, b)
    if out.size == 0:
        return out
    be.ops["conv2d_forward"](x, w, b, stride, pad, activation, out)
    return out


def conv2d_backward(x: Array, w: Array, y: Array | None, dy: Array, stride: Pair = 1, padding: Any = 0,
                    activation: str = "identity", need_dx: bool = True) -> tuple[Array | None, Array, Array]:
    """(dx, dw, db) of y = act(conv(x, w) + b) from dy = dJ/dy; y (the saved output) is needed for an activation.

    dx is None when need_dx is False (a first layer).
    """
    be = get_backend()
    if y is None:
        if activation != "identity":
            raise ValueError(f"conv2d_backward: activation={activation!r} needs the forward output y")
        y = dy
    dtype = check_float(be, "conv2d_backward", x=x, w=w, y=y, dy=dy)
    _check_activation("conv2d_backward", activation)
    _check_conv("conv2d_backward", x, w, w[:, 0, 0, 0])
    stride, pad, shape = _conv_geometry("conv2d_backward", x, w, stride, padding)
    for name, g in (("dy", dy), ("y", y)):
        if tuple(g.shape) != shape:
            raise ValueError(f"conv2d_backward: {name}.shape={tuple(g.shape)} but x.shape={tuple(x.shape)} and "
                             f"w.shape={tuple(w.shape)} give outputs of shape {shape}")
    dw, db = be.empty(w.shape, dtype), be.empty((w.shape[0],), dtype)
    dx = be.empty(x.shape, dtype) if need_dx else None
    if x.shape[0] == 0 or w.shape[0] == 0:  # no samples or no output channels: empty sums
        for g in (dw, db, dx):
            if g is not None:
                g.fill(0)
        return dx, dw, db
    be.ops["conv2d_backward"](x, w, y, dy, stride, pad, activation, dx, dw, db)
    return dx, dw, db


def _pool_geometry(op: str, x: Array, kernel_size: Pair, stride: Pair | None):
    _check_images(op, x=x)
    kernel = pair(op, "kernel_size", kernel_size)
    stride = kernel if stride is None else pair(op, "stride", stride)
    return kernel, stride, (*x.shape[:2], *output_size(op, tuple(x.shape[2:]), kernel, stride))


def maxpool2d_forward(x: Array, kernel_size: Pair, stride: Pair | None = None) -> tuple[Array, Array]:
    """(out, argmax): the max of each window (stride defaults to kernel_size, floor mode), and where it was
    (int64 flat index into the (H, W) plane) for the backward pass. Ties go to the first max, as in torch."""
    be = get_backend()
    dtype = check_float(be, "maxpool2d_forward", x=x)
    kernel, stride, shape = _pool_geometry("maxpool2d_forward", x, kernel_size, stride)
    out, argmax = be.empty(shape, dtype), be.empty(shape, np.int64)
    if out.size:
        be.ops["maxpool2d_forward"](x, kernel, stride, out, argmax)
    return out, argmax


def _input_shape(op: str, input_shape: Any) -> tuple[int, ...]:
    shape = tuple(int(s) for s in input_shape)
    if len(shape) != 4:
        raise ValueError(f"{op}: input_shape must be (N, C, H, W), got {input_shape!r}")
    return shape


def maxpool2d_backward(dy: Array, argmax: Array, input_shape: tuple[int, ...]) -> Array:
    """dJ/dx: each dy goes to the input element that was its window's max (overlapping windows add up)."""
    be = get_backend()
    dtype = check_float(be, "maxpool2d_backward", dy=dy)
    check_owned(be, "maxpool2d_backward", argmax=argmax)
    shape = _input_shape("maxpool2d_backward", input_shape)
    if tuple(argmax.shape) != tuple(dy.shape) or argmax.dtype != np.int64 or dy.ndim != 4 or shape[:2] != dy.shape[:2]:
        raise ValueError(f"maxpool2d_backward: dy.shape={tuple(dy.shape)}, argmax {argmax.dtype}{tuple(argmax.shape)} "
                         f"and input_shape={shape} do not fit (argmax must be maxpool2d_forward's int64 result)")
    return _pool_gradient(be, "maxpool2d_backward", shape, dtype, dy, argmax)


def avgpool2d_forward(x: Array, kernel_size: Pair, stride: Pair | None = None) -> Array:
    """The mean of each kh x kw window (stride defaults to kernel_size, floor mode)."""
    be = get_backend()
    dtype = check_float(be, "avgpool2d_forward", x=x)
    kernel, stride, shape = _pool_geometry("avgpool2d_forward", x, kernel_size, stride)
    out = be.empty(shape, dtype)
    if out.size:
        be.ops["avgpool2d_forward"](x, kernel, stride, out)
    return out


def avgpool2d_backward(dy: Array, input_shape: tuple[int, ...], kernel_size: Pair, stride: Pair | None = None) -> Array:
    """dJ/dx: each dy spread evenly over its window (overlapping windows add up)."""
    be = get_backend()
    dtype = check_float(be, "avgpool2d_backward", dy=dy)
    shape = _input_shape("avgpool2d_backward", input_shape)
    kernel, stride, expected = _pool_geometry("avgpool2d_backward", _Shape(shape), kernel_size, stride)
    if tuple(dy.shape) != expected:
        raise ValueError(f"avgpool2d_backward: dy.shape={tuple(dy.shape)} but input_shape={shape} pooled "
                         f"gives {expected}")
    return _pool_gradient(be, "avgpool2d_backward", shape, dtype, dy, kernel, stride)


def _pool_gradient(be, op: str, shape: tuple[int, ...], dtype, dy: Array, *args: Any) -> Array:
    """A fresh dx of `shape` from the backend's pooling backward op (zeros for an empty dy)."""
    dx = be.empty(shape, dtype)
    if dy.size == 0:
        dx.fill(0)
    else:
        be.ops[op](dy, *args, dx)
    return dx


class _Shape:
    """Stands in for an array where only the shape is checked."""

    def __init__(self, shape: tuple[int, ...]) -> None:
        self.shape, self.ndim = shape, len(shape)
