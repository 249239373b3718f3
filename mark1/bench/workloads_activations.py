"""Workloads beside sigmoid: tanh and relu with their backward passes, and `interleave` (mark1 mixed with NumPy).

Each activation workload is the sigmoid one with another formula: the same sizes (2^16 ... 2^24 elements),
the same bytes per element (8 forward, 12 backward), a float64 oracle on a sample of positions, and one
builder per contender (mark1's public op, NumPy's fastest in-place passes, torch's own kernel).

`interleave` is how user code really runs: a NumPy (OpenBLAS) matmul, then the contender's matmul, on the
MLP's first two layer shapes, over and over. Its figure is the pair's throughput; compare it with the `matmul`
figures of both at the same shape (run `--only matmul,interleave`): a pair that takes longer than the two
alone means one library's idle threads slowed the other's (see README, "Mixing with NumPy/torch").
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from mark1.bench import workloads as wl
from mark1.bench.workloads import Arrays

if TYPE_CHECKING:   # references.py imports workloads.py, which imports this module: no cycle at run time
    from mark1.bench.references import Builder

ACTIVATION_SIZES = {"quick": (16, 20, 24), "full": tuple(range(16, 27, 2))}
INTERLEAVE_SHAPES = ((256, 784, 128), (256, 128, 64))   # the MLP's first two layers (workloads.MLP_LAYERS)


def _tanh_backward(y, dy):
    return dy * (1 - y * y)


def _relu_backward(y, dy):
    return np.where(y > 0, dy, 0.0)


# name -> (description, inputs: "x" or "y,dy", float64 formula)
FORMULAS: dict[str, tuple[str, str, Callable]] = {
    "tanh": ("y = tanh(x) elementwise, float32 (reads x, writes y)", "x", np.tanh),
    "relu": ("y = max(x, 0) elementwise, float32 (reads x, writes y)", "x", lambda x: np.maximum(x, 0.0)),
    "tanh_backward": ("dx = dy·(1-y²) elementwise, float32 (reads y, dy, writes dx)", "y,dy", _tanh_backward),
    "relu_backward": ("dx = dy where y > 0 else 0, float32 (reads y, dy, writes dx)", "y,dy", _relu_backward),
}


def _inputs(name: str):
    def make(size: wl.Size, rng: np.random.Generator) -> Arrays:
        if FORMULAS[name][1] == "x":
            return {"x": rng.uniform(-8, 8, size.dims).astype(np.float32)}
        y = rng.uniform(-1, 1, size.dims) if name.startswith("tanh") else rng.uniform(-1, 1, size.dims).clip(0)
        return {"y": y.astype(np.float32), "dy": rng.standard_normal(size.dims, np.float32)}

    return make


def _oracle(name: str):
    formula, forward = FORMULAS[name][2], FORMULAS[name][1] == "x"

    def oracle(inputs: Arrays) -> Arrays:
        first = inputs["x" if forward else "y"]
        index = wl._sample_index(first.size)
        if forward:
            return {"index": index, "y": formula(first[index].astype(np.float64))}
        dy = inputs["dy"].reshape(-1)[index].astype(np.float64)
        return {"index": index, "dx": formula(first.reshape(-1)[index].astype(np.float64), dy)}

    return oracle


def _activation_workload(name: str) -> wl.Workload:
    per_element = 8.0 if FORMULAS[name][1] == "x" else 12.0
    return wl.Workload(
        name, FORMULAS[name][0], "GB/s", "byte", "elements",
        quick=tuple(wl._elements(1 << p) for p in ACTIVATION_SIZES["quick"]),
        full=tuple(wl._elements(1 << p) for p in ACTIVATION_SIZES["full"]),
        work=lambda s, b=per_element: b * s.dims[0], make_inputs=_inputs(name), oracle=_oracle(name),
        check=wl.check_sampled,
    )


def _interleave_size(m: int, k: int, n: int) -> wl.Size:
    return wl.Size(f"{m}x{k}·{k}x{n}", (m, k, n), 4.0 * m * k * n)


INTERLEAVE_SIZES = tuple(_interleave_size(*shape) for shape in INTERLEAVE_SHAPES)
INTERLEAVE = wl.Workload(
    "interleave", "numpy.matmul then the contender's matmul, alternating (two float32 products per call)",
    "GFLOP/s", "flop", "work per call (FLOP)",
    quick=INTERLEAVE_SIZES, full=INTERLEAVE_SIZES,
    work=lambda s: s.x, make_inputs=wl._matmul_inputs, oracle=lambda inp: {}, check=wl.check_matmul,
)


def register(workloads: dict, size_from_int: dict, size_limits: dict) -> None:
    """Add these workloads to workloads.py's tables (called once, at the end of that module), in suite order:
    interleave after matmul, each activation after sigmoid's, the layer and training figures last."""
    mine = {name: _activation_workload(name) for name in FORMULAS} | {"interleave": INTERLEAVE}
    order = ["matmul", "interleave", "sigmoid", "sigmoid_backward", "tanh", "tanh_backward", "relu",
             "relu_backward"]
    merged = {**workloads, **mine}
    ordered = {name: merged[name] for name in order if name in merged} | merged
    workloads.clear()
    workloads.update(ordered)
    for name in FORMULAS:
        size_from_int[name] = wl._elements
        size_limits[name] = 2**30
    size_from_int["interleave"] = lambda n: _interleave_size(n, n, n)
    size_limits["interleave"] = 8192


# --- builders, one set per contender family -------------------------------------------------------------

def _elementwise_builders(apply: Callable, forward_out: Callable, to_device: Callable, to_host: Callable,
                          matmul: Callable, empty_matmul_out: Callable) -> dict[str, Builder]:
    """apply(name, *inputs, out) computes one workload into out; the rest move arrays for this library."""
    from mark1.bench.references import Prepared

    def builder(name: str) -> Builder:
        keys, result = (("x",), "y") if FORMULAS[name][1] == "x" else (("y", "dy"), "dx")

        def build(inp: Arrays) -> Prepared:
            args = [to_device(inp[k]) for k in keys]
            out = forward_out(args[0])
            return Prepared(lambda: apply(name, *args, out), lambda: {result: to_host(out)})

        return build

    def interleave(inp: Arrays) -> Prepared:
        a, b = inp["a"], inp["b"]
        theirs = np.empty((a.shape[0], b.shape[1]), np.float32)
        da, db = to_device(a), to_device(b)
        ours = empty_matmul_out(da, db)

        def run():
            np.matmul(a, b, out=theirs)
            matmul(da, db, ours)

        return Prepared(run, lambda: {"c": to_host(ours)})

    return {**{name: builder(name) for name in FORMULAS}, "interleave": interleave}


def mark1_builders() -> dict[str, Builder]:
    import mark1 as m1

    ops = {"tanh": m1.tanh, "relu": m1.relu, "tanh_backward": m1.tanh_backward, "relu_backward": m1.relu_backward}
    return _elementwise_builders(
        lambda name, *args: ops[name](*args[:-1], out=args[-1]),
        lambda x: m1.get_backend().empty(x.shape, np.float32),
        lambda a: m1.asarray(a, dtype=a.dtype), m1.to_numpy,
        lambda a, b, c: m1.matmul(a, b, out=c),
        lambda a, b: m1.get_backend().empty((a.shape[0], b.shape[1]), np.float32),
    )


def _numpy_apply(name: str, *args) -> None:
    """In-place passes with no temporaries, as for sigmoid in references.py."""
    out = args[-1]
    if name == "tanh":
        np.tanh(args[0], out=out)
    elif name == "relu":
        np.maximum(args[0], 0, out=out)
    elif name == "tanh_backward":
        y, dy = args[0], args[1]
        np.multiply(y, y, out=out)
        np.subtract(1, out, out=out)
        np.multiply(out, dy, out=out)
    else:
        y, dy = args[0], args[1]
        np.multiply(dy, y > 0, out=out)


def numpy_builders() -> dict[str, Builder]:
    return _elementwise_builders(_numpy_apply, np.empty_like, np.asarray, np.asarray,
                                 lambda a, b, c: np.matmul(a, b, out=c),
                                 lambda a, b: np.empty((a.shape[0], b.shape[1]), np.float32))


def torch_builders(device: str) -> dict[str, Builder]:
    import torch

    def apply(name: str, *args) -> None:
        out = args[-1]
        if name == "tanh":
            torch.tanh(args[0], out=out)
        elif name == "relu":
            torch.clamp_min(args[0], 0, out=out)   # torch.relu has no out=; clamp_min is the same kernel family
        elif name == "tanh_backward":
            torch.ops.aten.tanh_backward.grad_input(args[1], args[0], grad_input=out)
        else:
            torch.ops.aten.threshold_backward.grad_input(args[1], args[0], 0, grad_input=out)

    return _elementwise_builders(
        apply, torch.empty_like, lambda a: torch.from_numpy(a).to(device), lambda t: t.detach().cpu().numpy(),
        lambda a, b, c: torch.matmul(a, b, out=c),
        lambda a, b: torch.empty((a.shape[0], b.shape[1]), dtype=torch.float32, device=device),
    )
