"""The benchmark workloads: what is computed, at which sizes, how much work one call is, and the oracle.

Every workload is float32. Inputs are drawn on the host from a seeded generator so every contender gets the
same numbers; the oracle computes the expected result in float64 NumPy (or checks a sample of it, where the
full float64 result would cost more than the benchmark), and `check` returns the largest error relative to
the result's scale, which must stay below TOLERANCE before a contender is timed.

The math that several contenders share (the NumPy reference, the CuPy reference, the float64 oracle) is
written once here over an array module `xp`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

TOLERANCE = 1e-3          # max error / result scale; float32 round-off on these sizes stays below ~1e-4
MLP_LAYERS = (784, 128, 64, 10)
MLP_ACTIVATIONS = ("sigmoid", "sigmoid", "identity")   # softmax cross-entropy sits on the last layer's logits
LEARNING_RATE = 0.1
DENSE_SHAPE = (784, 128)  # the fused dense layer benchmarked: the MLP's first (largest) layer
SAMPLE = 100_000          # elementwise results are checked on this many random positions

Arrays = dict[str, Any]


@dataclass(frozen=True)
class Size:
    """One problem size: a readable label, the defining integers, and the number plotted on the x axis."""

    label: str
    dims: tuple[int, ...]
    x: float


@dataclass(frozen=True)
class Workload:
    name: str
    description: str
    unit: str                 # "GFLOP/s", "GB/s" or "steps/s": how the figure is reported
    work_kind: str            # "flop" or "byte": what `work` counts, and which hardware peak applies
    x_label: str
    quick: tuple[Size, ...]
    full: tuple[Size, ...]
    work: Callable[[Size], float]                       # FLOP or bytes moved per call
    make_inputs: Callable[[Size, np.random.Generator], Arrays]
    oracle: Callable[[Arrays], Arrays]                  # expected results (float64), same keys as a fetch
    check: Callable[[Arrays, Arrays, Arrays], float] = field(default=None)  # (inputs, got, expected) -> error
    builds_as: str | None = None   # computed by the contenders' builders of that workload (launch: sigmoid)

    def throughput(self, size: Size, seconds: float) -> float:
        """The figure in `unit` for one call taking `seconds`."""
        return 1.0 / seconds if self.unit == "steps/s" else self.work(size) / seconds / 1e9

    def peak_throughput(self, size: Size, peak_per_s: float) -> float:
        """What a machine doing `peak_per_s` FLOP (or bytes) per second would score, in `unit`."""
        return peak_per_s / self.work(size) if self.unit == "steps/s" else peak_per_s / 1e9

    def sizes(self, full: bool) -> tuple[Size, ...]:
        return self.full if full else self.quick

    def size_from_int(self, n: int) -> Size:
        """The size a user means by one integer in --sizes (matrix side, element count or batch)."""
        if n > SIZE_LIMITS[self.name]:
            raise ValueError(f"--sizes: {n} is too large for {self.name} (at most {SIZE_LIMITS[self.name]}); "
                             f"write {self.name}=N to give a size to one workload only")
        return SIZE_FROM_INT[self.name](n)


# --- math shared by the NumPy/CuPy references and the float64 oracle --------------------------------------

def sigmoid(xp, x):
    """1/(1+e^-x); the benchmark's inputs lie in [-8, 8] so e^-x cannot overflow."""
    return 1.0 / (1.0 + xp.exp(-x))


def dense_forward_backward(xp, x, w, b, dy) -> tuple[Any, Any, Any, Any]:
    """y = σ(x@w + b); δ = dy·y(1-y); dw = xᵀδ, db = Σδ, dx = δwᵀ."""
    y = sigmoid(xp, x @ w + b)
    delta = dy * y * (1 - y)
    return y, delta @ w.T, x.T @ delta, delta.sum(axis=0)


def mlp_train_step(xp, params: list, x, labels, lr: float) -> None:
    """One SGD step of the sigmoid MLP with softmax cross-entropy (mean over the batch), params updated in place.

    params = [w1, b1, w2, b2, w3, b3], w_i of shape (in, out) as in mark1's Dense.
    """
    m = x.shape[0]
    acts = [x]
    for i, act in enumerate(MLP_ACTIVATIONS):
        z = acts[-1] @ params[2 * i] + params[2 * i + 1]
        acts.append(sigmoid(xp, z) if act == "sigmoid" else z)
    z = acts[-1] - acts[-1].max(axis=1, keepdims=True)
    e = xp.exp(z)
    g = e / e.sum(axis=1, keepdims=True)
    g[xp.arange(m), labels] -= 1
    g /= m
    for i in reversed(range(len(MLP_ACTIVATIONS))):
        w = params[2 * i]
        if MLP_ACTIVATIONS[i] == "sigmoid":
            g = g * acts[i + 1] * (1 - acts[i + 1])
        dw, db = acts[i].T @ g, g.sum(axis=0)
        if i:
            g = g @ w.T
        w -= lr * dw
        params[2 * i + 1] -= lr * db


# --- checks ---------------------------------------------------------------------------------------------

def _relative_error(got, expected) -> float:
    got, expected = np.asarray(got, dtype=np.float64), np.asarray(expected, dtype=np.float64)
    if got.shape != expected.shape:
        return float("inf")
    scale = float(np.abs(expected).max(initial=0.0)) or 1.0
    return float(np.abs(got - expected).max(initial=0.0)) / scale


def check_all(inputs: Arrays, got: Arrays, expected: Arrays) -> float:
    return max(_relative_error(got[k], expected[k]) for k in expected)


def check_matmul(inputs: Arrays, got: Arrays, expected: Arrays) -> float:
    """Freivalds' check: C·v against A·(B·v) in float64 with random signs v, O(n²) instead of a float64 matmul.

    Scaled by the RMS of A·(B·v), which grows like sqrt(N)·RMS(C): float32 round-off stays near 1e-6 of it,
    while one element of C wrong by RMS(C)/2 moves it by ~1/(2·sqrt(N)) (0.008 at N = 4096), far above TOLERANCE.
    """
    a, b = inputs["a"].astype(np.float64), inputs["b"].astype(np.float64)
    c = np.asarray(got["c"], dtype=np.float64)
    if c.shape != (a.shape[0], b.shape[1]):
        return float("inf")
    v = np.random.default_rng(7).choice([-1.0, 1.0], size=b.shape[1])
    exact = a @ (b @ v)
    scale = float(np.sqrt(np.mean(exact**2))) or 1.0
    return float(np.abs(c @ v - exact).max()) / scale


def check_sampled(inputs: Arrays, got: Arrays, expected: Arrays) -> float:
    """expected holds the float64 results at positions expected['index'] of the flattened output."""
    index = expected["index"]
    return max(_relative_error(np.asarray(got[k]).reshape(-1)[index], expected[k]) for k in expected if k != "index")


def check_train(inputs: Arrays, got: Arrays, expected: Arrays) -> float:
    """Compare the parameter *changes* (lr·gradient): the parameters themselves would hide a wrong gradient."""
    return max(
        _relative_error(np.asarray(got[k], np.float64) - inputs[k], expected[k] - inputs[k]) for k in expected
    )


# --- the workloads --------------------------------------------------------------------------------------

def _matmul_size(m: int, k: int, n: int) -> Size:
    label = f"{m}" if m == k == n else f"{m}x{k}·{k}x{n}"
    return Size(label, (m, k, n), 2.0 * m * k * n)


MLP_MATMULS = tuple(_matmul_size(256, k, n) for k, n in zip(MLP_LAYERS[:-1], MLP_LAYERS[1:], strict=True))


def _matmul_inputs(size: Size, rng: np.random.Generator) -> Arrays:
    m, k, n = size.dims
    return {"a": rng.standard_normal((m, k), dtype=np.float32), "b": rng.standard_normal((k, n), dtype=np.float32)}


def _elements(n: int) -> Size:
    log2 = n.bit_length() - 1
    return Size(f"2^{log2}" if n == 1 << log2 else str(n), (n,), float(n))


def _sample_index(n: int) -> np.ndarray:
    return np.random.default_rng(11).integers(0, n, size=min(n, SAMPLE))


def _sigmoid_inputs(size: Size, rng: np.random.Generator) -> Arrays:
    return {"x": rng.uniform(-8, 8, size.dims).astype(np.float32)}


def _sigmoid_oracle(inputs: Arrays) -> Arrays:
    index = _sample_index(inputs["x"].size)
    return {"index": index, "y": sigmoid(np, inputs["x"][index].astype(np.float64))}


def _sigmoid_backward_inputs(size: Size, rng: np.random.Generator) -> Arrays:
    return {"y": rng.uniform(0, 1, size.dims).astype(np.float32), "dy": rng.standard_normal(size.dims, np.float32)}


def _sigmoid_backward_oracle(inputs: Arrays) -> Arrays:
    index = _sample_index(inputs["y"].size)
    y, dy = inputs["y"][index].astype(np.float64), inputs["dy"][index].astype(np.float64)
    return {"index": index, "dx": dy * y * (1 - y)}


def _batch(n: int) -> Size:
    return Size(f"batch {n}", (n,), float(n))


def _dense_inputs(size: Size, rng: np.random.Generator) -> Arrays:
    m, (k, n) = size.dims[0], DENSE_SHAPE
    return {
        "x": rng.uniform(0, 1, (m, k)).astype(np.float32),
        "w": (rng.standard_normal((k, n)) / np.sqrt(k)).astype(np.float32),
        "b": (0.1 * rng.standard_normal(n)).astype(np.float32),
        "dy": rng.standard_normal((m, n), dtype=np.float32),
    }


def _dense_oracle(inputs: Arrays) -> Arrays:
    x, w, b, dy = (inputs[k].astype(np.float64) for k in ("x", "w", "b", "dy"))
    y, dx, dw, db = dense_forward_backward(np, x, w, b, dy)
    return {"y": y, "dx": dx, "dw": dw, "db": db}


PARAM_NAMES = ("w1", "b1", "w2", "b2", "w3", "b3")


def _train_inputs(size: Size, rng: np.random.Generator) -> Arrays:
    m = size.dims[0]
    inputs = {"x": rng.uniform(0, 1, (m, MLP_LAYERS[0])).astype(np.float32),
              "labels": rng.integers(0, MLP_LAYERS[-1], m).astype(np.int64)}
    for i, (k, n) in enumerate(zip(MLP_LAYERS[:-1], MLP_LAYERS[1:], strict=True)):
        bound = 1 / np.sqrt(k)   # torch.nn.Linear's default init range
        inputs[f"w{i + 1}"] = rng.uniform(-bound, bound, (k, n)).astype(np.float32)
        inputs[f"b{i + 1}"] = rng.uniform(-bound, bound, n).astype(np.float32)
    return inputs


def _train_oracle(inputs: Arrays) -> Arrays:
    params = [inputs[k].astype(np.float64) for k in PARAM_NAMES]
    mlp_train_step(np, params, inputs["x"].astype(np.float64), inputs["labels"], LEARNING_RATE)
    return dict(zip(PARAM_NAMES, params, strict=True))


def _dense_flop(size: Size) -> float:
    return 6.0 * size.dims[0] * DENSE_SHAPE[0] * DENSE_SHAPE[1]   # three matmuls: y, dw, dx


def _train_flop(size: Size) -> float:
    """Forward, dw and dx matmuls of every layer (no dx for the first): the elementwise work is ignored."""
    pairs = list(zip(MLP_LAYERS[:-1], MLP_LAYERS[1:], strict=True))
    return sum((4.0 if i == 0 else 6.0) * size.dims[0] * k * n for i, (k, n) in enumerate(pairs))


WORKLOADS: dict[str, Workload] = {w.name: w for w in (
    Workload(
        "matmul", "C = A·B, float32: square n×n and the MLP's layer shapes (M×K·K×N)", "GFLOP/s", "flop",
        "work per call (FLOP)",
        quick=tuple(_matmul_size(n, n, n) for n in (256, 512, 1024)) + MLP_MATMULS,
        full=tuple(_matmul_size(n, n, n) for n in (256, 512, 1024, 2048, 4096)) + MLP_MATMULS,
        work=lambda s: s.x, make_inputs=_matmul_inputs, oracle=lambda inp: {}, check=check_matmul,
    ),
    Workload(
        "sigmoid", "y = σ(x) elementwise, float32 (reads x, writes y)", "GB/s", "byte", "elements",
        quick=tuple(_elements(1 << p) for p in (16, 20, 24)),
        full=tuple(_elements(1 << p) for p in range(16, 27, 2)),
        work=lambda s: 8.0 * s.dims[0], make_inputs=_sigmoid_inputs, oracle=_sigmoid_oracle, check=check_sampled,
    ),
    Workload(
        "sigmoid_backward", "dx = dy·y·(1-y) elementwise, float32 (reads y, dy, writes dx)", "GB/s", "byte",
        "elements",
        quick=tuple(_elements(1 << p) for p in (16, 20, 24)),
        full=tuple(_elements(1 << p) for p in range(16, 27, 2)),
        work=lambda s: 12.0 * s.dims[0], make_inputs=_sigmoid_backward_inputs, oracle=_sigmoid_backward_oracle,
        check=check_sampled,
    ),
    Workload(
        "dense",
        f"fused dense layer {DENSE_SHAPE[0]}→{DENSE_SHAPE[1]} with sigmoid: forward + backward (y, dx, dw, db)",
        "GFLOP/s", "flop", "batch size",
        quick=(_batch(256), _batch(4096)),
        full=tuple(_batch(n) for n in (256, 1024, 4096, 16384)),
        work=_dense_flop, make_inputs=_dense_inputs, oracle=_dense_oracle, check=check_all,
    ),
    Workload(
        "train_step", "one SGD step of the 784-128-64-10 sigmoid MLP, softmax cross-entropy", "steps/s", "flop",
        "batch size",
        quick=(_batch(256), _batch(16384)),
        full=tuple(_batch(n) for n in (256, 1024, 4096, 16384)),
        work=_train_flop, make_inputs=_train_inputs, oracle=_train_oracle, check=check_train,
    ),
    Workload(
        "launch", "y = σ(x) on 1024 float32 elements: a call is almost all dispatch overhead (calls/s)", "steps/s",
        "byte", "elements", quick=(_elements(1024),), full=(_elements(1024),), work=lambda s: 8.0 * s.dims[0],
        make_inputs=_sigmoid_inputs, oracle=_sigmoid_oracle, check=check_sampled, builds_as="sigmoid",
    ),
)}

SIZE_FROM_INT: dict[str, Callable[[int], Size]] = {
    "matmul": lambda n: _matmul_size(n, n, n),
    "sigmoid": _elements,
    "sigmoid_backward": _elements,
    "dense": _batch,
    "train_step": _batch,
    "launch": _elements,
}


SIZE_LIMITS = {"matmul": 32768, "sigmoid": 2**30, "sigmoid_backward": 2**30, "dense": 2**20, "train_step": 2**20,
               "launch": 2**16}

from mark1.bench.workloads_activations import register  # noqa: E402, I001 (it needs the names above)

register(WORKLOADS, SIZE_FROM_INT, SIZE_LIMITS)  # tanh, relu, tanh/relu_backward, interleave

from mark1.bench import rbm_step  # noqa: E402  (energy-based models, issue 13; it imports Workload from here)

WORKLOADS[rbm_step.RBM_STEP.name], SIZE_FROM_INT["rbm_step"], SIZE_LIMITS["rbm_step"] = (
    rbm_step.RBM_STEP, rbm_step.batch, rbm_step.SIZE_LIMIT)

import mark1.bench.conv_workloads  # noqa: E402, F401  (registers conv and cnn_train_step here: issue 12)


def workload_order(name: str) -> int:
    """Position in the suite (a name from another version of mark1 sorts last)."""
    names = list(WORKLOADS)
    return names.index(name) if name in names else len(names)


def select(names: list[str] | None) -> list[Workload]:
    """The workloads named (all when None), in suite order; an unknown name lists the valid ones."""
    if not names:
        return list(WORKLOADS.values())
    unknown = [n for n in names if n not in WORKLOADS]
    if unknown:
        raise ValueError(f"unknown workload {', '.join(map(repr, unknown))}; valid workloads: {', '.join(WORKLOADS)}")
    return [w for name, w in WORKLOADS.items() if name in names]


def parse_sizes(tokens: list[str]) -> list[tuple[str | None, int]]:
    """--sizes tokens: 'N' applies to every workload run, 'workload=N' to that one only."""
    out = []
    for token in tokens:
        name, _, value = token.rpartition("=")
        if name:
            select([name.strip()])   # an unknown workload lists the valid ones
        out.append((name.strip() or None, parse_size(value)))
    return out


def parse_size(text: str) -> int:
    """'1024', '2^20' or '1<<20' -> int (a positive count)."""
    t = text.strip().replace(" ", "")
    try:
        if "^" in t:
            base, exp = t.split("^")
            value = int(base) ** int(exp)
        elif "<<" in t:
            base, exp = t.split("<<")
            value = int(base) << int(exp)
        else:
            value = int(t)
    except ValueError:
        raise ValueError(f"--sizes: cannot read {text!r} as a size; write e.g. 1024, 2^20 or 1<<20") from None
    if value < 1:
        raise ValueError(f"--sizes: {text!r} is not a positive size")
    return value
