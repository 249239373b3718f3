"""fit / predict / evaluate for Sequential: mini-batches, seeded shuffling, validation, early stopping.

The data is checked once on the host (mark1/data.py) and moved to the backend once; each step then runs
only backend kernels, and the running loss stays on the device until the epoch ends.
"""

from __future__ import annotations

import sys
from typing import Any

from tqdm.auto import tqdm

import mark1.data as data
import mark1.ops as ops
from mark1.backends.registry import get_backend
from mark1.init import as_generator
from mark1.nn.dense import Dense
from mark1.nn.losses import BCELoss, BCEWithLogitsLoss, CrossEntropyLoss, Loss

Array = Any


def _output_width(model) -> int:
    dense = [layer for layer in model.layers if isinstance(layer, Dense)]
    if not dense:
        raise ValueError("fit/evaluate need a model with at least one Dense layer")
    return dense[-1].out_features


def _host_data(model, x, y, loss: Loss | None) -> tuple:
    """X and y checked once on the host; y as int64 labels for classification, else floats shaped for `loss`."""
    x_host = data.host_features(x, "X")
    width = _output_width(model)
    if isinstance(loss, CrossEntropyLoss) or (loss is None and width > 1):
        y_host = data.host_labels(y, width, "y")
    else:
        y_host = data.host_features(y, "y").astype(model.dtype, copy=False)
        if y_host.ndim == 1 and width == 1:
            y_host = y_host.reshape(-1, 1)
    if len(y_host) != len(x_host):
        raise ValueError(f"X has {len(x_host)} rows but y has {len(y_host)}; they must match")
    return x_host, y_host


def _to_device(model, x_host, y_host) -> tuple[Array, Array]:
    """Move checked host data (from _host_data) to the backend, once."""
    return ops.asarray(x_host, dtype=model.dtype), ops.asarray(y_host, dtype=y_host.dtype)


def _correct(pred: Array, target: Array, loss: Loss | None) -> Array | None:
    """How many predictions are right, as a device scalar (None where accuracy means nothing, e.g. MSE)."""
    if isinstance(loss, CrossEntropyLoss) or (loss is None and pred.shape[-1] > 1):
        return (pred.argmax(axis=-1) == target).sum()
    if isinstance(loss, BCELoss | BCEWithLogitsLoss) or loss is None:
        threshold = 0.0 if isinstance(loss, BCEWithLogitsLoss) else 0.5
        return ((pred > threshold) == (target > 0.5)).sum()
    return None


def _batches(n: int, batch_size: int, order: Array):
    for start in range(0, n, batch_size):
        yield order[start:start + batch_size]


def _run_epoch(model, x, y, loss, optimizer, batch_size, order) -> tuple[Array, Array | None]:
    total, correct = 0.0, None
    for idx in _batches(x.shape[0], batch_size, order):
        xb, yb = x[idx], y[idx]
        pred = model.forward(xb)
        value = loss(pred, yb)
        model.backward(loss.backward())
        optimizer.step()
        total = total + value * idx.shape[0]  # stays on the device: no sync per step
        hits = _correct(pred, yb, loss)
        if hits is not None:
            correct = hits if correct is None else correct + hits
    return total, correct


def _measure(model, x, y, loss, batch_size) -> dict[str, float]:
    pred = predict(model, x, batch_size)
    out = {}
    if loss is not None:
        out["loss"] = float(loss(pred, y))
    hits = _correct(pred, y, loss)
    if hits is not None:
        out["accuracy"] = float(hits) / x.shape[0]
    return out


def fit(model, x, y, loss: Loss, optimizer, epochs: int = 10, batch_size: int = 32, shuffle: bool = True,
        validation_split: float | None = None, validation_data: tuple | None = None, patience: int | None = None,
        monitor: str | None = None, min_delta: float = 0.0, restore_best: bool = True, progress: bool = True,
        rng: Any = None) -> dict[str, list[float]]:
    """Train `model` and return the history: {"loss": [...], "accuracy": [...], "val_loss": [...], ...}.

    patience: stop when `monitor` (default "val_loss" with validation data, else "loss"; "*accuracy" is
    maximised) has not improved by min_delta for that many epochs, then restore the best weights.
    rng: a NumPy Generator or int seed for the batch order; None uses the one `m1.seed` sets.
    """
    if not isinstance(loss, Loss):
        raise TypeError(f"fit: loss must be an nn loss such as nn.MSELoss(), got {loss!r}")
    for name, value in (("epochs", epochs), ("batch_size", batch_size)):
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"fit: {name} must be a positive int, got {value!r}")
    if validation_split and validation_data is not None:
        raise ValueError("fit: give validation_split or validation_data, not both")
    x_host, y_host = _host_data(model, x, y, loss)
    val_host = _host_data(model, *validation_data, loss) if validation_data is not None else None
    if validation_split:
        (x_host, y_host), val_host = data.split_validation(x_host, y_host, validation_split)
    x_dev, y_dev = _to_device(model, x_host, y_host)
    val = _to_device(model, *val_host) if val_host is not None else None
    monitor = monitor or ("val_loss" if val is not None else "loss")
    if monitor.startswith("val_") and val is None:
        raise ValueError(f"fit: monitor={monitor!r} needs validation_split or validation_data")
    generator = as_generator(rng)
    history: dict[str, list[float]] = {}
    best, best_epoch, best_weights = None, -1, None
    checked_labels = getattr(loss, "check_labels", None)
    if checked_labels is not None:
        loss.check_labels = False  # every label was range-checked once above
    bar = tqdm(range(epochs), desc="fit", unit="epoch", disable=not progress or not sys.stderr.isatty())
    try:
        for epoch in bar:
            order = ops.asarray(data.batch_order(x_dev.shape[0], shuffle, generator), dtype="int64")
            total, correct = _run_epoch(model, x_dev, y_dev, loss, optimizer, batch_size, order)
            record = {"loss": float(total) / x_dev.shape[0]}
            if correct is not None:
                record["accuracy"] = float(correct) / x_dev.shape[0]
            if val is not None:
                record.update({f"val_{k}": v for k, v in _measure(model, *val, loss, None).items()})
            for key, value in record.items():
                history.setdefault(key, []).append(value)
            if record["loss"] != record["loss"] or abs(record["loss"]) == float("inf"):
                raise FloatingPointError(f"fit: the training loss became {record['loss']} in epoch {epoch + 1}; "
                                         "the model diverged (try a smaller learning rate)")
            bar.set_postfix({k: f"{v:.4g}" for k, v in record.items()})
            if patience is None:
                continue
            if monitor not in record:
                raise ValueError(f"fit: monitor={monitor!r} is not measured; available: {', '.join(record)}")
            score = record[monitor] if "accuracy" not in monitor else -record[monitor]
            if best is None or score < best - min_delta:
                best, best_epoch = score, epoch
                best_weights = [p.data.copy() for p in model.parameters()] if restore_best else None
            elif epoch - best_epoch >= patience:
                break
    finally:
        bar.close()
        if checked_labels is not None:
            loss.check_labels = checked_labels
    if best_weights is not None:
        for p, w in zip(model.parameters(), best_weights, strict=True):
            p.data = w
    return history


def predict(model, x, batch_size: int | None = None) -> Array:
    """The model's output for x (NumPy or backend array) as a backend array; batch_size bounds memory."""
    be = get_backend()
    if not be.owns(x) or x.dtype != model.dtype:
        x = ops.asarray(data.host_features(x, "X"), dtype=model.dtype)
    if batch_size is None or batch_size >= x.shape[0]:
        return model.forward(x)
    return be.xp.concatenate([model.forward(x[s:s + batch_size]) for s in range(0, x.shape[0], batch_size)])


def evaluate(model, x, y, loss: Loss | None = None, batch_size: int | None = None) -> dict[str, float]:
    """{"loss": ..., "accuracy": ...} on (x, y); accuracy where it means something (classification)."""
    x_dev, y_dev = _to_device(model, *_host_data(model, x, y, loss))
    return _measure(model, x_dev, y_dev, loss, batch_size)
