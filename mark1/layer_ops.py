"""Ops for layers, losses and optimizers: the fused dense layer, the four losses, SGD and Adam updates.

Same pattern as ops.py: check everything, allocate outputs, settle empty cases, then call the kernel.
Losses return (loss, grad) with `loss` a 0-d array on the backend (no device-to-host sync until you
call float() on it).
"""

from __future__ import annotations

from typing import Any

from mark1.backends.base import ACTIVATIONS
from mark1.backends.registry import get_backend
from mark1.checks import check_float, check_owned, check_same_shape, float_arrays, output, refuse_overlap

Array = Any


def _check_activation(op: str, activation: str) -> None:
    if activation not in ACTIVATIONS:
        raise ValueError(f"{op}: unknown activation {activation!r}; valid: {', '.join(ACTIVATIONS)}")


def _check_dense(op: str, x: Array, w: Array, b: Array) -> None:
    if x.ndim != 2 or w.ndim != 2 or b.ndim != 1:
        raise ValueError(f"{op}: expects x 2-D, w 2-D, b 1-D; got {x.shape}, {w.shape}, {b.shape}")
    if x.shape[1] != w.shape[0] or b.shape[0] != w.shape[1]:
        raise ValueError(
            f"{op}: x.shape={x.shape}, w.shape={w.shape}, b.shape={b.shape} do not fit "
            "(need x (m, in), w (in, out), b (out,))"
        )


def dense_forward(x: Array, w: Array, b: Array, activation: str = "identity", out: Array | None = None) -> Array:
    """act(x @ w + b) in one pass over the output; activation is identity, sigmoid, tanh or relu."""
    be = get_backend()
    dtype = float_arrays(be, "dense_forward", ("x", "w", "b"), x, w, b)
    _check_activation("dense_forward", activation)
    _check_dense("dense_forward", x, w, b)
    given = out is not None
    out = output(be, "dense_forward", out, (x.shape[0], w.shape[1]), dtype)
    if given:
        refuse_overlap(be, "dense_forward", out, ("x", "w", "b"), x, w, b)
    if out.size == 0:
        return out
    if x.shape[1] == 0:  # no inputs: x @ w is all zeros; a zero column keeps the kernel's contract
        x, w = be.zeros((x.shape[0], 1), dtype), be.zeros((1, w.shape[1]), dtype)
    be.ops["dense_forward"](x, w, b, activation, out)
    return out


def dense_backward(
    x: Array, w: Array, y: Array, dy: Array, activation: str = "identity", need_dx: bool = True
) -> tuple[Array | None, Array, Array]:
    """(dx, dw, db) of y = act(x @ w + b): δ = dy·act'(y), dw = xᵀδ, db = Σδ, dx = δwᵀ (None if not need_dx)."""
    be = get_backend()
    dtype = float_arrays(be, "dense_backward", ("x", "w", "y", "dy"), x, w, y, dy)
    _check_activation("dense_backward", activation)
    if y.shape != dy.shape:
        check_same_shape("dense_backward", y=y, dy=dy)
    if x.ndim != 2 or w.ndim != 2 or x.shape[1] != w.shape[0] or tuple(y.shape) != (x.shape[0], w.shape[1]):
        raise ValueError(
            f"dense_backward: x.shape={x.shape}, w.shape={w.shape}, y.shape={y.shape} do not fit "
            "(need x (m, in), w (in, out), y (m, out))"
        )
    dw = be.empty(w.shape, dtype)
    db = be.empty((w.shape[1],), dtype)
    dx = be.empty(x.shape, dtype) if need_dx else None
    if x.shape[0] == 0:  # no samples: every gradient is an empty sum
        for g in (dw, db, dx):
            if g is not None:
                g.fill(0)
        return dx, dw, db
    be.ops["dense_backward"](x, w, y, dy, activation, dx, dw, db)
    return dx, dw, db


def _loss(op: str, pred: Array, target: Array, dtype) -> tuple[Array, Array]:
    be = get_backend()
    if pred.ndim == 0 or pred.shape[0] == 0:
        raise ValueError(f"{op}: empty batch (pred.shape={pred.shape}); a loss needs at least one sample")
    grad = be.empty(pred.shape, dtype)
    loss = be.empty((1,), dtype)
    be.ops[op](pred, target, grad, loss)
    return loss.reshape(()), grad


def _elementwise_loss(op: str, pred: Array, target: Array) -> tuple[Array, Array]:
    be = get_backend()
    dtype = check_float(be, op, pred=pred, target=target)
    check_same_shape(op, pred=pred, target=target)
    return _loss(op, pred, target, dtype)


def mse(pred: Array, target: Array) -> tuple[Array, Array]:
    """J = 1/(2m) Σ (h - y)², the lecture's cost (m = batch size), and dJ/dh = (h - y)/m."""
    return _elementwise_loss("mse", pred, target)


def bce(prob: Array, target: Array) -> tuple[Array, Array]:
    """J = -1/m Σ [y log p + (1-y) log(1-p)]; p clipped to [0, 1], logs clamped at -100 (finite at 0 and 1)."""
    return _elementwise_loss("bce", prob, target)


def bce_with_logits(logits: Array, target: Array) -> tuple[Array, Array]:
    """BCE of σ(z) computed from the logits z without overflow; grad (σ(z) - y)/m."""
    return _elementwise_loss("bce_with_logits", logits, target)


def softmax_cross_entropy(logits: Array, labels: Array, check_labels: bool = True) -> tuple[Array, Array]:
    """J = 1/m Σ (logsumexp(z_i) - z_i[label_i]) for integer labels in [0, classes); grad (softmax - onehot)/m.

    check_labels=False skips the range check (a device-to-host sync on the GPU) for labels already checked,
    as `fit` does once before training; a label out of range then gives NaN for its row's loss and gradient
    (never a read outside the row), so the loss is NaN.
    """
    be = get_backend()
    dtype = check_float(be, "softmax_cross_entropy", logits=logits)
    check_owned(be, "softmax_cross_entropy", labels=labels)
    if logits.ndim != 2 or labels.ndim != 1 or labels.shape[0] != logits.shape[0]:
        raise ValueError(
            f"softmax_cross_entropy: logits.shape={logits.shape}, labels.shape={labels.shape}; "
            "need logits (m, classes) and labels (m,)"
        )
    if labels.dtype.kind not in "iu":
        raise TypeError(f"softmax_cross_entropy: labels have dtype {labels.dtype}; expected integer class indices")
    if check_labels and labels.size:
        outside = (labels < 0) | (labels >= logits.shape[1])
        if bool(outside.any()):
            row = int(outside.argmax())
            raise ValueError(
                f"softmax_cross_entropy: label {int(labels[row])} at row {row} is out of range for "
                f"{logits.shape[1]} classes (labels must be in [0, {logits.shape[1] - 1}])"
            )
    if labels.dtype.kind != "i" or labels.dtype.itemsize != 8:  # not int64 (cheaper than dtype.name)
        labels = labels.astype("int64")
    return _loss("softmax_cross_entropy", logits, labels, dtype)


def sgd_update(param: Array, grad: Array, velocity: Array, lr: float, momentum: float = 0.0,
               weight_decay: float = 0.0) -> None:
    """In place: v = momentum·v + (g + wd·p); p -= lr·v (torch.optim.SGD with dampening 0)."""
    be = get_backend()
    float_arrays(be, "sgd_update", ("param", "grad", "velocity"), param, grad, velocity)
    if not param.shape == grad.shape == velocity.shape:
        check_same_shape("sgd_update", param=param, grad=grad, velocity=velocity)
    if param.size:
        be.ops["sgd"](param, grad, velocity, float(lr), float(momentum), float(weight_decay))


def adam_update(param: Array, grad: Array, m: Array, v: Array, step: int, lr: float = 1e-3,
                beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8, weight_decay: float = 0.0) -> None:
    """In place Adam step number `step` (>= 1), Kingma & Ba 2014, with torch.optim.Adam's L2 weight decay."""
    be = get_backend()
    float_arrays(be, "adam_update", ("param", "grad", "m", "v"), param, grad, m, v)
    if not param.shape == grad.shape == m.shape == v.shape:
        check_same_shape("adam_update", param=param, grad=grad, m=m, v=v)
    if step < 1:
        raise ValueError(f"adam_update: step must be >= 1, got {step}")
    if param.size:
        be.ops["adam"](param, grad, m, v, float(lr), float(beta1), float(beta2), float(eps),
                       float(weight_decay), int(step))
