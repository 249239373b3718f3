"""Who competes: every usable mark1 backend (found through the registry) and the reference libraries.

Contender names: `mark1-<backend>` for each backend in the registry, the GPU variants of mark1/bench/gpu.py
(`mark1-cuda-numba`, `mark1-cuda-raw-2blocks`), and the references `numpy`
(NumPy/OpenBLAS, the CPU reference), `torch` (PyTorch CPU), `torch-cuda` and `cupy` (cuBLAS, the GPU
reference). A name given to --backends selects the contender of that name and the mark1 backend of that
name, so `--backends numba,numpy` runs mark1-numba, mark1-numpy and numpy. The reference of every device
with a selected contender runs, because every ratio is taken against it (`--backends cuda` runs no CPU one).
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from typing import Any

import numpy as np

import mark1 as m1
from mark1.backends.registry import PRIORITY, resolve, unavailable_reason
from mark1.bench import conv_workloads, gpu, machine, references, workloads_activations
from mark1.bench import workloads as wl
from mark1.bench.references import Arrays, Builder, Prepared
from mark1.bench.timing import CpuClock, CupyEventClock, TorchEventClock

REFERENCE = {"cpu": "numpy", "gpu": "cupy"}      # ratios are taken to these, measured in the same run
TORCH = {"cpu": "torch", "gpu": "torch-cuda"}    # the second ratio column
REFERENCE_NAMES = ("numpy", "torch", "torch-cuda", "cupy")


@dataclass
class Contender:
    name: str
    device: str                              # "cpu" or "gpu"
    description: str
    builders: dict[str, Builder]
    make_clock: Callable[[], Any]
    activate: Callable[[], AbstractContextManager] = field(default=nullcontext)

    def supports(self, workload: str) -> bool:
        return _builder_name(workload) in self.builders

    def prepare(self, workload: str, inputs: Arrays) -> Prepared:
        return self.builders[_builder_name(workload)](inputs)


def _builder_name(workload: str) -> str:
    known = wl.WORKLOADS.get(workload)
    return (known.builds_as if known else None) or workload


def all_names() -> list[str]:
    return [f"mark1-{n}" for n in PRIORITY] + [name for name, _ in gpu.contender_factories()] + list(REFERENCE_NAMES)


def check_selection(tokens: list[str] | None) -> None:
    """An unknown --backends name lists the valid ones."""
    valid = set(all_names()) | set(PRIORITY)
    unknown = [t for t in tokens or () if t not in valid]
    if unknown:
        raise ValueError(f"unknown backend {', '.join(map(repr, unknown))}; valid names: "
                         f"{', '.join(sorted(valid))} (a mark1 backend name selects mark1-<name>)")


def _selected(name: str, tokens: list[str] | None) -> bool:
    return not tokens or any(name in (t, f"mark1-{t}") for t in tokens)


def discover(tokens: list[str] | None = None) -> tuple[list[Contender], list[dict]]:
    """(usable contenders, skipped ones as {name, reason}) for the --backends selection (None = all)."""
    check_selection(tokens)
    found, skipped = [], []
    for name, make in _candidates():
        if not _selected(name, tokens) and name not in REFERENCE.values():
            continue
        try:
            contender = make()
        except Unusable as e:
            skipped.append({"name": name, "reason": str(e)})
            continue
        except Exception as e:  # a broken optional library must not stop the run: skip it, say why
            skipped.append({"name": name, "reason": f"{type(e).__name__}: {e}"})
            continue
        contender.builders.update(conv_workloads.builders(name))  # convolution workloads (issue 12)
        found.append(contender)
    if tokens:   # a device's reference runs only for that device's selected contenders (gpu_run.sh: GPU only)
        devices = {c.device for c in found if c.name not in REFERENCE.values() or c.name in tokens}
        found = [c for c in found if c.name not in REFERENCE.values() or c.device in devices]
    return found, skipped


class Unusable(Exception):
    """This contender cannot run here; the message says why."""


def _candidates() -> list[tuple[str, Callable[[], Contender]]]:
    out = [(f"mark1-{n}", lambda n=n: mark1_contender(n)) for n in PRIORITY] + gpu.contender_factories()
    out += [("numpy", _numpy_contender), ("torch", lambda: _torch_contender("cpu")),
            ("torch-cuda", lambda: _torch_contender("cuda")), ("cupy", _cupy_contender)]
    return out


def _numpy_contender() -> Contender:
    blas = machine.blas_info()
    library = f"{blas['internal_api']} {blas.get('version') or ''}".strip() if blas else "its BLAS"
    return Contender("numpy", "cpu", f"NumPy {np.__version__} ({library})", references.numpy_builders(), CpuClock)


def _torch_contender(device: str) -> Contender:
    try:
        import torch
    except ImportError as e:
        raise Unusable(f"PyTorch is not installed ({e}); pip install torch to compare with it") from None
    if device == "cuda" and not torch.cuda.is_available():
        raise Unusable(f"torch {torch.__version__} sees no CUDA device")
    name, where = (TORCH["gpu"], "gpu") if device == "cuda" else (TORCH["cpu"], "cpu")
    clock = TorchEventClock if device == "cuda" else CpuClock
    return Contender(name, where, f"PyTorch {torch.__version__} ({device})", references.torch_builders(device), clock)


def _cupy_contender() -> Contender:
    reason = machine.gpu_unavailable_reason()
    if reason:
        raise Unusable(reason)
    import cupy

    return Contender("cupy", "gpu", f"CuPy {cupy.__version__} (cuBLAS)", references.cupy_builders(), CupyEventClock)


def mark1_contender(backend_name: str, **options) -> Contender:
    """mark1-<backend_name>, the backend created with `options` (e.g. matmul="numba" for cuda)."""
    reason = unavailable_reason(backend_name)
    if reason:
        raise Unusable(reason)
    be = resolve(backend_name, **options)
    on_gpu = be.xp.__name__.split(".")[0] == "cupy"   # where its arrays live decides the clock, not the name
    clock = CupyEventClock if on_gpu else (lambda: CpuClock(be.synchronize))
    return Contender(f"mark1-{backend_name}", "gpu" if on_gpu else "cpu",
                     f"mark1 {backend_name} backend on {be.device}", mark1_builders(), clock,
                     activate=lambda: m1.backend(backend_name, **options))


def mark1_builders() -> dict[str, Builder]:
    """mark1's public ops on the current backend (the contender activates it), outputs preallocated."""

    def dev(a: np.ndarray):
        return m1.asarray(a, dtype=a.dtype)

    def empty(shape):
        return m1.get_backend().empty(shape, np.float32)

    def matmul(inp: Arrays) -> Prepared:
        a, b = dev(inp["a"]), dev(inp["b"])
        c = empty((a.shape[0], b.shape[1]))
        return Prepared(lambda: m1.matmul(a, b, out=c), lambda: {"c": m1.to_numpy(c)})

    def sigmoid(inp: Arrays) -> Prepared:
        x = dev(inp["x"])
        y = empty(x.shape)
        return Prepared(lambda: m1.sigmoid(x, out=y), lambda: {"y": m1.to_numpy(y)})

    def sigmoid_backward(inp: Arrays) -> Prepared:
        y, dy = dev(inp["y"]), dev(inp["dy"])
        dx = empty(y.shape)
        return Prepared(lambda: m1.sigmoid_backward(y, dy, out=dx), lambda: {"dx": m1.to_numpy(dx)})

    def dense(inp: Arrays) -> Prepared:
        x, w, b, dy = (dev(inp[k]) for k in ("x", "w", "b", "dy"))
        y = empty((x.shape[0], w.shape[1]))
        grads: dict = {}

        def run():
            m1.dense_forward(x, w, b, "sigmoid", out=y)
            grads["dx"], grads["dw"], grads["db"] = m1.dense_backward(x, w, y, dy, "sigmoid")

        return Prepared(run, lambda: {"y": m1.to_numpy(y), **{k: m1.to_numpy(v) for k, v in grads.items()}})

    from mark1.bench.rbm_step import mark1_builder as rbm_step  # energy-based models (issue 13)

    return {"matmul": matmul, "sigmoid": sigmoid, "sigmoid_backward": sigmoid_backward, "dense": dense,
            "train_step": mark1_train_step, "rbm_step": rbm_step, **workloads_activations.mark1_builders()}


def mark1_train_step(inp: Arrays) -> Prepared:
    """One SGD step through mark1.nn, written as the README's training loop (Dense+Sigmoid run fused)."""
    from mark1 import nn

    layers = []
    for i, act in enumerate(wl.MLP_ACTIVATIONS):
        dense = nn.Dense(*inp[f"w{i + 1}"].shape)
        layers += [dense, nn.Sigmoid()] if act == "sigmoid" else [dense]
    model = nn.Sequential(*layers)
    params = model.parameters()
    for p, key in zip(params, wl.PARAM_NAMES, strict=True):   # the benchmark's weights, not a fresh init
        p.data = m1.asarray(inp[key].copy())
    loss = nn.CrossEntropyLoss(check_labels=False)            # labels are checked once, as fit does
    opt = nn.SGD(params, lr=wl.LEARNING_RATE)
    x, labels = m1.asarray(inp["x"]), m1.asarray(inp["labels"], dtype=np.int64)

    def run():
        loss(model(x), labels)
        model.backward(loss.backward())
        opt.step()
        opt.zero_grad()

    return Prepared(run, lambda: {k: m1.to_numpy(p.data) for k, p in zip(wl.PARAM_NAMES, params, strict=True)})
