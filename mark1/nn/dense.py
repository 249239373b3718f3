"""Dense: y = x @ weight + bias, on inputs of shape (..., in_features)."""

from __future__ import annotations

from typing import Any

import mark1.layer_ops as layer_ops
import mark1.ops as ops
from mark1.init import INITS, weights
from mark1.nn.module import Array, Module
from mark1.nn.parameter import Parameter

DEFAULT_INIT = "xavier"  # Sequential switches an un-chosen init to "he" when a ReLU follows


class Dense(Module):
    """A fully connected layer; `.weight` is (in_features, out_features), `.bias` (out_features,).

    init: "xavier" (uniform, for sigmoid/tanh) or "he" (normal, for ReLU); None lets Sequential choose by
    the activation that follows. rng: a NumPy Generator or int seed; None draws from the generator that
    `m1.seed` sets. Bias starts at zero.
    """

    def __init__(self, in_features: int, out_features: int, init: str | None = None, rng: Any = None,
                 dtype: str = "float32") -> None:
        for name, value in (("in_features", in_features), ("out_features", out_features)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"Dense: {name} must be a positive int, got {value!r}")
        if init is not None and init not in INITS:
            raise ValueError(f"Dense: unknown init {init!r}; valid: {', '.join(INITS)}")
        self.in_features, self.out_features = in_features, out_features
        self.init, self.dtype = init, dtype
        self._rng = rng
        self.weight = Parameter(ops.asarray(weights(in_features, out_features, init or DEFAULT_INIT, rng), dtype),
                                "weight")
        self.bias = Parameter(ops.asarray([0.0] * out_features, dtype), "bias")
        self._x: Array | None = None

    def reset_parameters(self, init: str) -> None:
        """Redraw the weights with `init` (used by Sequential when init was left to it)."""
        self.weight.data = ops.asarray(weights(self.in_features, self.out_features, init, self._rng), self.dtype)

    def parameters(self) -> list[Parameter]:
        return [self.weight, self.bias]

    def config(self) -> dict:
        return {"type": "Dense", "in_features": self.in_features, "out_features": self.out_features}

    def flatten_input(self, x: Array) -> Array:
        """x as (rows, in_features); the error names both shapes when the width is wrong."""
        if getattr(x, "ndim", 0) < 1 or x.shape[-1] != self.in_features:
            shape = tuple(getattr(x, "shape", ()))
            raise ValueError(f"Dense({self.in_features}, {self.out_features}) got input of shape {shape}: "
                             f"expected (..., {self.in_features})")
        return x.reshape(-1, self.in_features) if x.ndim != 2 else x

    def forward(self, x: Array, activation: str = "identity") -> Array:
        x2 = self.flatten_input(x)
        y = layer_ops.dense_forward(x2, self.weight.data, self.bias.data, activation)
        self._x, self._in_shape = x2, x.shape
        return y.reshape(*x.shape[:-1], self.out_features) if x.ndim != 2 else y

    def backward(self, dy: Array, y: Array | None = None, activation: str = "identity",
                 need_dx: bool = True) -> Array | None:
        """Gradients from dJ/d(output); with `activation`, dy is taken w.r.t. the activation's output y."""
        if self._x is None:
            raise RuntimeError("Dense.backward called before forward")
        dy2 = dy.reshape(-1, self.out_features) if dy.ndim != 2 else dy
        y2 = dy2 if y is None else (y.reshape(-1, self.out_features) if y.ndim != 2 else y)
        dx, dw, db = layer_ops.dense_backward(self._x, self.weight.data, y2, dy2, activation, need_dx)
        self.weight.grad, self.bias.grad = dw, db
        if dx is None:
            return None
        return dx.reshape(self._in_shape) if len(self._in_shape) != 2 else dx
