"""Losses: value = loss(pred, target) is a 0-d backend array; loss.backward() returns dJ/dpred.

m is the batch size (pred.shape[0]). Targets may be NumPy arrays or lists on any backend: they are moved
onto the current backend (fit moves its data once, up front, so nothing moves per step).
"""

from __future__ import annotations

from typing import Any

import mark1.layer_ops as layer_ops
import mark1.ops as ops
from mark1.backends.registry import get_backend
from mark1.data import host_labels
from mark1.nn.module import Array


class Loss:
    """Template: subclasses name their layer_ops function; this class moves targets and keeps the gradient."""

    op = ""

    def __init__(self) -> None:
        self._grad: Array | None = None

    def __call__(self, pred: Array, target: Any) -> Array:
        value, self._grad = self.compute(pred, self.prepare_target(pred, target))
        return value

    def compute(self, pred: Array, target: Array) -> tuple[Array, Array]:
        return getattr(layer_ops, self.op)(pred, target)

    def prepare_target(self, pred: Array, target: Any) -> Array:
        be = get_backend()
        if not be.owns(target) or target.dtype != pred.dtype:
            target = ops.asarray(target, dtype=pred.dtype)
        # a column of predictions against a flat vector of targets is unambiguous: accept it
        if target.ndim == pred.ndim - 1 and pred.ndim >= 1 and pred.shape[-1] == 1:
            target = target.reshape(pred.shape)
        return target

    def backward(self) -> Array:
        if self._grad is None:
            raise RuntimeError(f"{type(self).__name__}.backward called before the loss was computed")
        return self._grad

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class MSELoss(Loss):
    """J = 1/(2m) Σ (h - y)², the lecture's cost (note the 1/2: torch's MSELoss has none)."""

    op = "mse"


class BCELoss(Loss):
    """J = -1/m Σ [y log h + (1-y) log(1-h)] on probabilities h; logs clamped at -100 like torch."""

    op = "bce"


class BCEWithLogitsLoss(Loss):
    """BCE on logits z (sigmoid folded in, stable for any z); pair it with a last Dense without Sigmoid."""

    op = "bce_with_logits"


class CrossEntropyLoss(Loss):
    """Softmax + negative log-likelihood of integer class labels, from logits (no Softmax layer before it).

    check_labels=False skips the label range check, e.g. inside fit, which checks all labels once; an
    out-of-range label then makes the loss NaN (and its row's gradient), on every backend.
    """

    def __init__(self, check_labels: bool = True) -> None:
        super().__init__()
        self.check_labels = check_labels

    def prepare_target(self, pred: Array, target: Any) -> Array:
        if get_backend().owns(target) and target.dtype.kind in "iu":
            return target  # range checked by the kernel call (unless check_labels=False)
        return ops.asarray(host_labels(target, pred.shape[-1], "CrossEntropyLoss target"), dtype="int64")

    def compute(self, pred: Array, target: Array) -> tuple[Array, Array]:
        return layer_ops.softmax_cross_entropy(pred, target, check_labels=self.check_labels)
