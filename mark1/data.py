"""Host-side data preparation for training: validation of X and y, labels, splits and batch order.

Runs once per fit (not per step) on NumPy arrays, so the checks cost nothing inside the training loop.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from mark1.ops import to_numpy


def to_host(x: Any) -> np.ndarray:
    """A host NumPy view of a backend array, list or nested sequence (copied only from a GPU)."""
    return to_numpy(x) if hasattr(x, "shape") else np.asarray(x)


def host_features(x: Any, name: str = "X") -> np.ndarray:
    """x as a 2-D-or-more float host array; refuses non-numeric data and NaN/inf, naming the first bad cell."""
    arr = to_host(x)
    if arr.dtype.kind not in "fiub":
        raise TypeError(f"{name} has dtype {arr.dtype}; expected numbers (float or int)")
    if arr.ndim == 0:
        raise ValueError(f"{name} is a scalar; expected an array with one row per sample")
    check_finite(arr, name)
    return arr


def check_finite(arr: np.ndarray, name: str) -> None:
    if arr.dtype.kind != "f":
        return
    bad = ~np.isfinite(arr)
    if bad.any():
        where = tuple(int(i) for i in np.argwhere(bad)[0])
        cell = f"row {where[0]}" + (f", column {where[1]}" if len(where) > 1 else "")
        if len(where) > 2:
            cell += f" (index {where})"
        raise ValueError(f"{name} contains {arr[where]} at {cell} ({int(bad.sum())} non-finite values in all); "
                         "clean or impute the data before training")


def host_labels(y: Any, classes: int, name: str = "y") -> np.ndarray:
    """Integer class labels in [0, classes) as int64; the error names the first bad row."""
    arr = to_host(y)
    if arr.dtype.kind == "f":
        check_finite(arr, name)
        if (arr != np.round(arr)).any():
            row = int(np.argwhere(arr != np.round(arr))[0][0])
            raise TypeError(f"{name} must hold integer class labels; row {row} is {arr.flat[row]}")
    elif arr.dtype.kind not in "iub":
        raise TypeError(f"{name} has dtype {arr.dtype}; expected integer class labels")
    arr = arr.astype(np.int64).reshape(-1)
    bad = (arr < 0) | (arr >= classes)
    if bad.any():
        row = int(np.argmax(bad))
        raise ValueError(f"{name}: label {arr[row]} at row {row} is out of range for {classes} classes "
                         f"(labels must be in [0, {classes - 1}])")
    return arr


def split_validation(x: np.ndarray, y: np.ndarray, fraction: float) -> tuple[tuple, tuple]:
    """The last `fraction` of the rows become validation data (not shuffled, as in Keras)."""
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"validation_split must be between 0 and 1 (exclusive), got {fraction}")
    n_val = int(round(len(x) * fraction))
    if n_val == 0 or n_val == len(x):
        raise ValueError(f"validation_split={fraction} of {len(x)} samples leaves an empty training or validation set")
    return (x[:-n_val], y[:-n_val]), (x[-n_val:], y[-n_val:])


def batch_order(n: int, shuffle: bool, rng: np.random.Generator) -> np.ndarray:
    return rng.permutation(n) if shuffle else np.arange(n)


# --- IDX files (MNIST, Fashion-MNIST), for the CNN lesson --------------------------------------------------

IDX_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def load_idx(path) -> np.ndarray:
    """An IDX file (LeCun's format, the one MNIST ships in; gzip-compressed or not) as a NumPy array.

    Layout: two zero bytes, a type code (0x08 uint8 ... 0x0E float64), the number of dimensions, each
    dimension as a big-endian uint32, then the values, big-endian, C order.
    """
    import gzip
    from pathlib import Path

    path = Path(path)
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    if len(raw) < 4 or raw[:2] != b"\0\0" or raw[2] not in IDX_TYPES:
        raise ValueError(f"{path}: not an IDX file (header {raw[:4].hex() or 'empty'}; expected 00 00 <type> <ndim>)")
    ndim = raw[3]
    if len(raw) < 4 + 4 * ndim:
        raise ValueError(f"{path}: IDX header is cut short ({len(raw)} bytes for {ndim} dimensions)")
    shape = tuple(int(d) for d in np.frombuffer(raw, ">u4", ndim, offset=4))
    dtype = np.dtype(IDX_TYPES[raw[2]])
    expected = 4 + 4 * ndim + int(np.prod(shape)) * dtype.itemsize
    if len(raw) != expected:
        raise ValueError(f"{path}: IDX data of shape {shape} and type {dtype.str} needs {expected} bytes, "
                         f"the file has {len(raw)}")
    return np.frombuffer(raw, dtype, offset=4 + 4 * ndim).reshape(shape).astype(dtype.newbyteorder("="))
