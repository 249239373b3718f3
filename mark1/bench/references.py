"""The reference contenders' implementations: plain NumPy (OpenBLAS), CuPy (cuBLAS) and PyTorch.

Each builder takes the workload's host inputs, moves them where the library computes, and returns a
Prepared: `run()` does one call into preallocated outputs where the library allows it, `fetch()` brings the
results back to host NumPy for the correctness check. They are written the way a user of each library
would write them (torch: autograd and torch.optim; NumPy/CuPy: the array expressions of workloads.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from mark1.bench import workloads as wl

Arrays = dict[str, Any]


@dataclass(frozen=True)
class Prepared:
    run: Callable[[], object]
    fetch: Callable[[], Arrays]


Builder = Callable[[Arrays], Prepared]


def xp_builders(xp, to_device: Callable, to_host: Callable, sigmoid_into: Callable,
                sigmoid_backward_into: Callable) -> dict[str, Builder]:
    """Builders for NumPy or CuPy, from how each computes an elementwise sigmoid into an output."""

    def matmul(inp: Arrays) -> Prepared:
        a, b = to_device(inp["a"]), to_device(inp["b"])
        c = xp.empty((a.shape[0], b.shape[1]), dtype=xp.float32)
        return Prepared(lambda: xp.matmul(a, b, out=c), lambda: {"c": to_host(c)})

    def sigmoid(inp: Arrays) -> Prepared:
        x = to_device(inp["x"])
        y = xp.empty_like(x)
        return Prepared(lambda: sigmoid_into(x, y), lambda: {"y": to_host(y)})

    def sigmoid_backward(inp: Arrays) -> Prepared:
        y, dy = to_device(inp["y"]), to_device(inp["dy"])
        dx = xp.empty_like(y)
        return Prepared(lambda: sigmoid_backward_into(y, dy, dx), lambda: {"dx": to_host(dx)})

    def dense(inp: Arrays) -> Prepared:
        x, w, b, dy = (to_device(inp[k]) for k in ("x", "w", "b", "dy"))
        results: Arrays = {}

        def run():
            results.update(zip(("y", "dx", "dw", "db"), wl.dense_forward_backward(xp, x, w, b, dy), strict=True))

        return Prepared(run, lambda: {k: to_host(v) for k, v in results.items()})

    def train_step(inp: Arrays) -> Prepared:
        params = [to_device(inp[k].copy()) for k in wl.PARAM_NAMES]   # updated in place: never the inputs
        x, labels = to_device(inp["x"]), to_device(inp["labels"])
        return Prepared(lambda: wl.mlp_train_step(xp, params, x, labels, wl.LEARNING_RATE),
                        lambda: {k: to_host(p) for k, p in zip(wl.PARAM_NAMES, params, strict=True)})

    return {"matmul": matmul, "sigmoid": sigmoid, "sigmoid_backward": sigmoid_backward, "dense": dense,
            "train_step": train_step}


def _numpy_sigmoid_into(x, y):
    """Four in-place passes, no temporaries: the fastest plain-NumPy sigmoid (inputs in [-8, 8])."""
    np.negative(x, out=y)
    np.exp(y, out=y)
    np.add(y, 1, out=y)
    np.reciprocal(y, out=y)


def _numpy_sigmoid_backward_into(y, dy, dx):
    np.subtract(1, y, out=dx)
    np.multiply(dx, y, out=dx)
    np.multiply(dx, dy, out=dx)


def numpy_builders() -> dict[str, Builder]:
    from mark1.bench import workloads_activations
    from mark1.bench.rbm_step import numpy_builder as rbm_step  # energy-based models (issue 13)

    return {**xp_builders(np, np.asarray, np.asarray, _numpy_sigmoid_into, _numpy_sigmoid_backward_into),
            "rbm_step": rbm_step, **workloads_activations.numpy_builders()}


def cupy_builders() -> dict[str, Builder]:
    """CuPy: cuBLAS for every matmul, one fused elementwise kernel for each sigmoid pass."""
    import cupy

    fwd = cupy.ElementwiseKernel("T x", "T y", "y = 1 / (1 + exp(-x))", "mark1_bench_sigmoid")
    bwd = cupy.ElementwiseKernel("T y, T dy", "T dx", "dx = dy * y * (1 - y)", "mark1_bench_sigmoid_backward")
    return xp_builders(cupy, cupy.asarray, cupy.asnumpy, lambda x, y: fwd(x, y),
                       lambda y, dy, dx: bwd(y, dy, dx))


def torch_builders(device: str) -> dict[str, Builder]:
    import torch

    def dev(a: np.ndarray):
        return torch.from_numpy(a).to(device)

    def host(t) -> np.ndarray:
        return t.detach().cpu().numpy()

    def matmul(inp: Arrays) -> Prepared:
        a, b = dev(inp["a"]), dev(inp["b"])
        c = torch.empty((a.shape[0], b.shape[1]), dtype=torch.float32, device=device)
        return Prepared(lambda: torch.matmul(a, b, out=c), lambda: {"c": host(c)})

    def sigmoid(inp: Arrays) -> Prepared:
        x = dev(inp["x"])
        y = torch.empty_like(x)
        return Prepared(lambda: torch.sigmoid(x, out=y), lambda: {"y": host(y)})

    def sigmoid_backward(inp: Arrays) -> Prepared:
        y, dy = dev(inp["y"]), dev(inp["dy"])
        dx = torch.empty_like(y)
        return Prepared(lambda: torch.ops.aten.sigmoid_backward.grad_input(dy, y, grad_input=dx),
                        lambda: {"dx": host(dx)})

    def dense(inp: Arrays) -> Prepared:
        x, w, b = (dev(inp[k]).requires_grad_() for k in ("x", "w", "b"))
        dy = dev(inp["dy"])
        out = {}

        def run():
            x.grad = w.grad = b.grad = None
            out["y"] = torch.sigmoid(torch.addmm(b, x, w))
            out["y"].backward(dy)

        return Prepared(run, lambda: {"y": host(out["y"]), "dx": host(x.grad), "dw": host(w.grad),
                                      "db": host(b.grad)})

    def train_step(inp: Arrays) -> Prepared:
        layers = []
        for i, act in enumerate(wl.MLP_ACTIVATIONS):
            w = inp[f"w{i + 1}"]
            linear = torch.nn.Linear(*w.shape)
            with torch.no_grad():
                linear.weight.copy_(torch.from_numpy(w.T))
                linear.bias.copy_(torch.from_numpy(inp[f"b{i + 1}"]))
            layers += [linear, torch.nn.Sigmoid()] if act == "sigmoid" else [linear]
        model = torch.nn.Sequential(*layers).to(device)
        loss_fn = torch.nn.CrossEntropyLoss()
        opt = torch.optim.SGD(model.parameters(), lr=wl.LEARNING_RATE)
        x, labels = dev(inp["x"]), dev(inp["labels"])

        def run():
            opt.zero_grad(set_to_none=True)
            loss_fn(model(x), labels).backward()
            opt.step()

        def fetch() -> Arrays:
            linears = [m for m in model if isinstance(m, torch.nn.Linear)]
            out = {}
            for i, linear in enumerate(linears):
                out[f"w{i + 1}"], out[f"b{i + 1}"] = host(linear.weight).T, host(linear.bias)
            return out

        return Prepared(run, fetch)

    from mark1.bench import workloads_activations

    return {"matmul": matmul, "sigmoid": sigmoid, "sigmoid_backward": sigmoid_backward, "dense": dense,
            "train_step": train_step, **workloads_activations.torch_builders(device)}
