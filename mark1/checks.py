"""Input checks shared by every op: ownership (arrays belong to a backend), dtype and output arrays.

Errors name the op, the argument, what was passed and what was expected, and are raised before any
kernel runs, so a rejected call changes nothing.
"""

from __future__ import annotations

from typing import Any

FLOAT_CHARS = "fd"  # dtype.char of float32, float64


def describe(x: Any) -> str:
    t = type(x)
    return f"{t.__module__.split('.')[0]}.{t.__name__}" if t.__module__ != "builtins" else t.__name__


def check_owned(be, op: str, **arrays: Any) -> None:
    for name, x in arrays.items():
        if not be.owns(x):
            raise TypeError(
                f"{op}: {name} is a {describe(x)}, but the current backend is {be.name!r} ({be.device}); "
                f"move it explicitly with m1.asarray({name}) (m1.to_numpy for the host)"
            )


def check_float(be, op: str, **arrays: Any):
    """All arrays owned by `be`, float32 or float64, and the same dtype; returns that dtype.

    Compares dtype.char, not dtype.name: .name is built on each access and cost more than a small matmul.
    Ownership is tested inline (one isinstance per array) on this per-op path; check_owned words the error.
    """
    array_types = be.array_types
    first = None
    for name, x in arrays.items():
        if not isinstance(x, array_types):
            check_owned(be, op, **{name: x})
        dtype = x.dtype
        if dtype.char not in FLOAT_CHARS:
            raise TypeError(f"{op}: {name} has dtype {dtype}; expected float32 or float64")
        if first is None:
            first = dtype
        elif dtype != first:
            listing = ", ".join(f"{n}={v.dtype}" for n, v in arrays.items())
            raise TypeError(f"{op}: mixed dtypes ({listing}); convert with m1.asarray(x, dtype=...)")
    return first


def float_one(be, op: str, x: Any, name: str = "x"):
    """check_float for one array: the per-op hot path (~0.1 us; the general form builds a dict of keywords)."""
    if isinstance(x, be.array_types):
        dtype = x.dtype
        if dtype.char in FLOAT_CHARS:
            return dtype
    return check_float(be, op, **{name: x})


def float_arrays(be, op: str, names: tuple[str, ...], *arrays: Any):
    """check_float for arrays given by position (named by `names`), the per-op hot path: 0.2-0.3 us where the
    keyword form takes 0.5-0.6 (building its dict); any failure goes through check_float for its words."""
    types = be.array_types
    first = arrays[0]
    if isinstance(first, types):
        dtype = first.dtype
        if dtype.char in FLOAT_CHARS:
            for x in arrays:  # builtin dtypes are singletons: `is` is the test (check_float compares otherwise)
                if not isinstance(x, types) or x.dtype is not dtype:
                    break
            else:
                return dtype
    return check_float(be, op, **dict(zip(names, arrays, strict=True)))


def check_same_shape(op: str, **arrays: Any) -> None:
    shape = None
    for x in arrays.values():  # a plain loop: the generator and all() it replaces cost 0.4 us a call
        if shape is None:
            shape = x.shape
        elif x.shape != shape and tuple(x.shape) != tuple(shape):
            break
    else:
        return
    listing = ", ".join(f"{n}.shape={tuple(x.shape)}" for n, x in arrays.items())
    raise ValueError(f"{op}: shapes differ ({listing}); they must be equal")


def output(be, op: str, out: Any, shape: tuple[int, ...], dtype, name: str = "out"):
    """A fresh C-contiguous output, or the user's `out` once it is checked to fit exactly."""
    if out is None:
        return be.empty(shape, dtype)
    if not isinstance(out, be.array_types):  # inline on this per-op path; check_owned words the error
        check_owned(be, op, **{name: out})
    # `is` first: builtin dtypes are singletons and shapes usually the same tuple, cheaper than comparing
    if (out.shape != shape and tuple(out.shape) != tuple(shape)) or (out.dtype is not dtype and out.dtype != dtype):
        raise ValueError(
            f"{op}: {name} has shape {tuple(out.shape)} and dtype {out.dtype}; expected {tuple(shape)} {dtype}"
        )
    if not out.flags.c_contiguous:
        raise ValueError(f"{op}: {name} must be C-contiguous (got strides {out.strides})")
    return out


def overlaps(be, a: Any, b: Any) -> bool:
    if a is not b and a.base is None and b.base is None:
        return False  # two arrays that each own their memory (no view) never share it: no call needed
    may_share = getattr(be.xp, "may_share_memory", None)
    return bool(may_share(a, b)) if may_share is not None else False


def refuse_overlap(be, op: str, out: Any, names: tuple[str, ...], *inputs: Any) -> None:
    """A kernel that reads its inputs while it writes out (a GEMM, a convolution) would compute from values
    it has already overwritten: refuse an out that shares memory with any input (given by position, named by
    `names`), naming it. Called only for a caller's out (a fresh one shares nothing); positional, as
    float_arrays, because the keyword form's dict cost 0.15 us of a 6 us product."""
    owner = out.base is None
    for i, x in enumerate(inputs):
        if owner and x.base is None and x is not out:  # overlaps' own first test, without its call
            continue
        if overlaps(be, out, x):
            raise ValueError(f"{op}: out overlaps an input ({names[i]}); give a separate output array")
