"""Parameter: a trainable backend array and its gradient."""

from __future__ import annotations

from typing import Any

from mark1.backends.registry import get_backend


class Parameter:
    """`.data` holds the values, `.grad` the last gradient backward() wrote (same shape, dtype, backend)."""

    def __init__(self, data: Any, name: str = "") -> None:
        self.data = data
        self.grad = get_backend().zeros(data.shape, data.dtype)
        self.name = name

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.data.shape)

    @property
    def dtype(self):
        return self.data.dtype

    def __repr__(self) -> str:
        return f"Parameter({self.name or '?'}, shape={self.shape}, dtype={self.dtype})"
