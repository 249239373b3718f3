"""Module: the base class of layers and Sequential (template method: subclasses write forward/backward)."""

from __future__ import annotations

from typing import Any

from mark1.nn.parameter import Parameter

Array = Any


class Module:
    """Something with a forward pass, a backward pass and (maybe) parameters.

    forward(x) remembers what backward needs; backward(dy) writes each Parameter's .grad (overwriting it,
    not accumulating) and returns dJ/dx, or None when the caller said it does not need it.
    """

    def __call__(self, x: Array) -> Array:
        return self.forward(x)

    def forward(self, x: Array) -> Array:
        raise NotImplementedError

    def backward(self, dy: Array) -> Array | None:
        raise NotImplementedError

    def parameters(self) -> list[Parameter]:
        return []

    def zero_grad(self) -> None:
        """Every parameter's .grad reads as zeros (a read-only zero array: Parameter.zero_grad says why)."""
        for p in self.parameters():
            p.zero_grad()

    def config(self) -> dict:
        """What rebuilds this layer's architecture (stored in checkpoints and compared on load)."""
        return {"type": type(self).__name__}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.config().items() if k != "type")
        return f"{type(self).__name__}({args})"
