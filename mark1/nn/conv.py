"""Layers for convolutional networks (NCHW, as torch): Conv2d, MaxPool2d, AvgPool2d, Flatten."""

from __future__ import annotations

from typing import Any

import mark1.conv_ops as conv_ops
import mark1.ops as ops
from mark1.init import INITS, filters
from mark1.nn.module import Array, Module
from mark1.nn.parameter import Parameter

DEFAULT_INIT = "xavier"  # Sequential switches an un-chosen init to "he" when a ReLU follows, as for Dense


class Conv2d(Module):
    """2-D convolution (torch's cross-correlation); `.weight` (out, in, kh, kw), `.bias` (out,).

    kernel_size, stride, padding: an int or an (h, w) pair; padding="same" (stride 1) keeps the image size,
    the extra row/column of an even kernel going after, as torch. init/rng/dtype as Dense: "xavier" or "he"
    with torch's fans (in*kh*kw, out*kh*kw); None lets Sequential choose by the activation that follows.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int | tuple[int, int],
                 stride: int | tuple[int, int] = 1, padding: int | tuple[int, int] | str = 0,
                 init: str | None = None, rng: Any = None, dtype: str = "float32") -> None:
        for name, value in (("in_channels", in_channels), ("out_channels", out_channels)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"Conv2d: {name} must be a positive int, got {value!r}")
        if init is not None and init not in INITS:
            raise ValueError(f"Conv2d: unknown init {init!r}; valid: {', '.join(INITS)}")
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size = conv_ops.pair("Conv2d", "kernel_size", kernel_size)
        self.stride = conv_ops.pair("Conv2d", "stride", stride)
        conv_ops.resolve_padding("Conv2d", padding, self.kernel_size, self.stride)  # refuse bad padding now
        self.padding = padding if isinstance(padding, str) else conv_ops.pair("Conv2d", "padding", padding, 0)
        self.init, self.dtype, self._rng = init, dtype, rng
        self.weight = Parameter(ops.asarray(filters(self._shape(), init or DEFAULT_INIT, rng), dtype), "weight")
        self.bias = Parameter(ops.asarray([0.0] * out_channels, dtype), "bias")
        self._x: Array | None = None

    def _shape(self) -> tuple[int, int, int, int]:
        return (self.out_channels, self.in_channels, *self.kernel_size)

    def reset_parameters(self, init: str) -> None:
        """Redraw the weights with `init` (used by Sequential when init was left to it)."""
        self.weight.data = ops.asarray(filters(self._shape(), init, self._rng), self.dtype)

    def parameters(self) -> list[Parameter]:
        return [self.weight, self.bias]

    def config(self) -> dict:
        padding = self.padding if isinstance(self.padding, str) else list(self.padding)
        return {"type": "Conv2d", "in_channels": self.in_channels, "out_channels": self.out_channels,
                "kernel_size": list(self.kernel_size), "stride": list(self.stride), "padding": padding}

    def forward(self, x: Array, activation: str = "identity") -> Array:
        if getattr(x, "ndim", 0) != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"{self!r} got input of shape {tuple(getattr(x, 'shape', ()))}: expected "
                             f"(batch, {self.in_channels}, height, width)")
        y = conv_ops.conv2d_forward(x, self.weight.data, self.bias.data, self.stride, self.padding, activation)
        self._x = x
        return y

    def backward(self, dy: Array, y: Array | None = None, activation: str = "identity",
                 need_dx: bool = True) -> Array | None:
        """Gradients from dJ/d(output); with `activation`, dy is taken w.r.t. the activation's output y."""
        if self._x is None:
            raise RuntimeError("Conv2d.backward called before forward")
        dx, dw, db = conv_ops.conv2d_backward(self._x, self.weight.data, y, dy, self.stride, self.padding,
                                              activation, need_dx)
        self.weight.grad, self.bias.grad = dw, db
        return dx


class _Pool(Module):
    def __init__(self, kernel_size: int | tuple[int, int], stride: int | tuple[int, int] | None = None) -> None:
        name = type(self).__name__
        self.kernel_size = conv_ops.pair(name, "kernel_size", kernel_size)
        self.stride = self.kernel_size if stride is None else conv_ops.pair(name, "stride", stride)
        self._shape: tuple | None = None

    def config(self) -> dict:
        return {"type": type(self).__name__, "kernel_size": list(self.kernel_size), "stride": list(self.stride)}

    def _input_shape(self) -> tuple:
        if self._shape is None:
            raise RuntimeError(f"{type(self).__name__}.backward called before forward")
        return self._shape


class MaxPool2d(_Pool):
    """The max of each kernel_size window (stride defaults to kernel_size; floor mode, as torch's default).
    The gradient goes to the window's max (the first one on ties, as torch)."""

    def forward(self, x: Array) -> Array:
        out, self._argmax = conv_ops.maxpool2d_forward(x, self.kernel_size, self.stride)
        self._shape = tuple(x.shape)
        return out

    def backward(self, dy: Array) -> Array:
        shape = self._input_shape()
        return conv_ops.maxpool2d_backward(dy, self._argmax, shape)


class AvgPool2d(_Pool):
    """The mean of each kernel_size window (stride defaults to kernel_size; floor mode)."""

    def forward(self, x: Array) -> Array:
        self._shape = tuple(x.shape)
        return conv_ops.avgpool2d_forward(x, self.kernel_size, self.stride)

    def backward(self, dy: Array) -> Array:
        return conv_ops.avgpool2d_backward(dy, self._input_shape(), self.kernel_size, self.stride)


class Flatten(Module):
    """(N, C, H, W) -> (N, C*H*W): keeps the batch dimension, flattens the rest (C order, as torch)."""

    def forward(self, x: Array) -> Array:
        if getattr(x, "ndim", 0) < 1:
            raise ValueError(f"Flatten got input of shape {tuple(getattr(x, 'shape', ()))}: expected (batch, ...)")
        self._shape = tuple(x.shape)
        return x.reshape(x.shape[0], -1)

    def backward(self, dy: Array) -> Array:
        return dy.reshape(self._shape)
