"""Activation layers: Sigmoid, Tanh, ReLU (fusable into the Dense before them) and Softmax."""

from __future__ import annotations

import mark1.ops as ops
from mark1.nn.module import Array, Module


class Activation(Module):
    """An elementwise activation; `name` is the one the fused dense kernels understand."""

    name = "identity"

    def forward(self, x: Array) -> Array:
        self._y = getattr(ops, self.name)(x)
        return self._y

    def backward(self, dy: Array) -> Array:
        return getattr(ops, f"{self.name}_backward")(self._saved_output(), dy)

    def _saved_output(self) -> Array:
        y = getattr(self, "_y", None)
        if y is None:
            raise RuntimeError(f"{type(self).__name__}.backward called before forward")
        return y


class Sigmoid(Activation):
    """σ(x) = 1/(1 + e^-x), stable for any x."""

    name = "sigmoid"


class Tanh(Activation):
    name = "tanh"


class ReLU(Activation):
    name = "relu"


class Softmax(Module):
    """Softmax over the last axis. For classification prefer CrossEntropyLoss on the logits (it is fused)."""

    def forward(self, x: Array) -> Array:
        self._y = ops.softmax(x, axis=-1)
        return self._y

    def backward(self, dy: Array) -> Array:
        y = self._y
        rows = (-1, y.shape[-1])
        return ops.softmax_backward(y.reshape(rows), dy.reshape(rows)).reshape(y.shape)


FUSABLE = (Sigmoid, Tanh, ReLU)
