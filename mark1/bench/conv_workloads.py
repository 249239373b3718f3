"""Convolution benchmarks: `conv` (one layer, forward + backward) and `cnn_train_step` (a LeNet-like SGD step).

Registered into workloads.WORKLOADS (and the size tables) when this module is imported (workloads.py does,
at its end, so the suite always has them); the
contenders' implementations are `builders(contender_name)`: mark1's public ops / nn on the contender's
backend, plain NumPy (im2col + matmul, float32), and torch eager (autograd, torch.optim). The float64 oracle
is the NumPy im2col reference (itself tested against direct loops in tests/test_conv_ops.py).
"""

from __future__ import annotations

import numpy as np

from mark1.bench import workloads as wl
from mark1.bench.references import Arrays, Builder, Prepared
from mark1.kernels import reference_conv as ref

# (label, channels, side, out_channels, kernel, padding): LeNet's two layers on 1x28x28 and a CIFAR-like layer
CONV_LAYERS = {"lenet1": ("1x28x28→8 k5", 1, 28, 8, 5, 0), "lenet2": ("8x12x12→16 k5", 8, 12, 16, 5, 0),
               "cifar": ("3x32x32→32 k3 p1", 3, 32, 32, 3, 1)}
CNN_NAMES = ("w1", "b1", "w2", "b2", "w3", "b3")
CNN_SHAPES = {"w1": (8, 1, 5, 5), "b1": (8,), "w2": (16, 8, 5, 5), "b2": (16,), "w3": (256, 10), "b3": (10,)}
CNN_FAN_IN = {"1": 1 * 5 * 5, "2": 8 * 5 * 5, "3": 256}   # by layer number
LEARNING_RATE = 0.1


def _conv_size(layer: str, batch: int) -> wl.Size:
    label, c, side, o, k, pad = CONV_LAYERS[layer]
    out = side + 2 * pad - k + 1
    return wl.Size(f"{label} b{batch}", (batch, c, side, o, k, pad), 2.0 * batch * o * c * k * k * out * out)


def _conv_inputs(size: wl.Size, rng: np.random.Generator) -> Arrays:
    n, c, side, o, k, pad = size.dims
    out = side + 2 * pad - k + 1
    return {"x": rng.uniform(0, 1, (n, c, side, side)).astype(np.float32),
            "w": (rng.standard_normal((o, c, k, k)) / np.sqrt(c * k * k)).astype(np.float32),
            "b": (0.1 * rng.standard_normal(o)).astype(np.float32),
            "dy": rng.standard_normal((n, o, out, out)).astype(np.float32)}


def conv_forward_backward(inp: Arrays, dtype=np.float32) -> Arrays:
    """y = conv(x, w) + b and (dx, dw, db) for dy, by the NumPy im2col reference in `dtype`."""
    x, w, b, dy = (np.asarray(inp[k], dtype) for k in ("x", "w", "b", "dy"))
    pad = _padding(x, w, dy)
    y = np.empty(dy.shape, dtype)
    ref.conv2d_forward(x, w, b, (1, 1), (pad, pad), "identity", y)
    dx, dw, db = np.empty_like(x), np.empty_like(w), np.empty_like(b)
    ref.conv2d_backward(x, w, y, dy, (1, 1), (pad, pad), "identity", dx, dw, db)
    return {"y": y, "dx": dx, "dw": dw, "db": db}


def _padding(x, w, dy) -> int:
    """The stride-1 padding that gives dy's size: out = side + 2p - k + 1."""
    return (dy.shape[2] - x.shape[2] + w.shape[2] - 1) // 2


def _batch(n: int) -> wl.Size:
    return wl.Size(f"batch {n}", (n,), float(n))


def _cnn_inputs(size: wl.Size, rng: np.random.Generator) -> Arrays:
    n = size.dims[0]
    inputs = {"x": rng.uniform(0, 1, (n, 1, 28, 28)).astype(np.float32),
              "labels": rng.integers(0, 10, n).astype(np.int64)}
    for name, shape in CNN_SHAPES.items():
        bound = 1 / np.sqrt(CNN_FAN_IN[name[1]])  # torch's default init range, for weights and biases alike
        inputs[name] = rng.uniform(-bound, bound, shape).astype(np.float32)
    return inputs


def cnn_train_step(params: list, x, labels, lr: float) -> None:
    """One SGD step of conv(1→8, k5)+ReLU, pool 2, conv(8→16, k5)+ReLU, pool 2, Flatten, Dense(256→10), softmax
    cross-entropy, in NumPy (the im2col reference kernels) in the arrays' dtype; params updated in place."""
    w1, b1, w2, b2, w3, b3 = params
    dt = x.dtype
    acts, argmaxes = [x], []
    for w, b in ((w1, b1), (w2, b2)):
        n, c, h, _ = acts[-1].shape
        y = np.empty((n, w.shape[0], h - w.shape[2] + 1, h - w.shape[3] + 1), dt)
        ref.conv2d_forward(acts[-1], w, b, (1, 1), (0, 0), "relu", y)
        pooled = np.empty((*y.shape[:2], y.shape[2] // 2, y.shape[3] // 2), dt)
        where = np.empty(pooled.shape, np.int64)
        ref.maxpool2d_forward(y, (2, 2), (2, 2), pooled, where)
        acts += [y, pooled]
        argmaxes.append(where)
    flat = acts[-1].reshape(len(x), -1)
    z = flat @ w3 + b3
    z -= z.max(axis=1, keepdims=True)
    g = np.exp(z)
    g /= g.sum(axis=1, keepdims=True)
    g[np.arange(len(x)), labels] -= 1
    g /= len(x)
    dw3, db3, d = flat.T @ g, g.sum(axis=0), (g @ w3.T).reshape(acts[-1].shape)
    grads = []
    for layer, (w, b) in reversed(list(enumerate(((w1, b1), (w2, b2))))):
        y, where = acts[1 + 2 * layer], argmaxes[layer]
        dy = np.empty(y.shape, dt)
        ref.maxpool2d_backward(d, where, dy)
        dx = np.empty(acts[2 * layer].shape, dt) if layer else None
        dw, db = np.empty_like(w), np.empty_like(b)
        ref.conv2d_backward(acts[2 * layer], w, y, dy, (1, 1), (0, 0), "relu", dx, dw, db)
        grads = [dw, db] + grads
        d = dx
    for p, grad in zip(params, [*grads, dw3, db3], strict=True):
        p -= lr * grad


def _cnn_oracle(inputs: Arrays) -> Arrays:
    params = [inputs[k].astype(np.float64) for k in CNN_NAMES]
    cnn_train_step(params, inputs["x"].astype(np.float64), inputs["labels"], LEARNING_RATE)
    return dict(zip(CNN_NAMES, params, strict=True))


def _cnn_flop(size: wl.Size) -> float:
    """Forward and dW of both convolutions, dx of the second, and the dense layer's three products."""
    n = size.dims[0]
    conv1, conv2 = 2.0 * n * 8 * 25 * 24 * 24, 2.0 * n * 16 * 8 * 25 * 8 * 8
    return 2 * conv1 + 3 * conv2 + 3 * 2.0 * n * 256 * 10


WORKLOADS = (
    wl.Workload(
        "conv", "one conv2d layer, float32, stride 1: forward + backward (y, dx, dw, db)", "GFLOP/s", "flop",
        "layer and batch",
        quick=tuple(_conv_size(layer, n) for layer in CONV_LAYERS for n in (64, 256)),
        full=tuple(_conv_size(layer, n) for layer in CONV_LAYERS for n in (64, 256)),
        work=lambda s: 3 * s.x, make_inputs=_conv_inputs, oracle=lambda inp: conv_forward_backward(inp, np.float64),
        check=wl.check_all,
    ),
    wl.Workload(
        "cnn_train_step", "one SGD step of a LeNet-like CNN on 1x28x28 (conv 8 k5, pool, conv 16 k5, pool, dense 10)",
        "steps/s", "flop", "batch size",
        quick=(_batch(256),), full=(_batch(64), _batch(256), _batch(1024)),
        work=_cnn_flop, make_inputs=_cnn_inputs, oracle=_cnn_oracle, check=wl.check_train,
    ),
)
SIZE_FROM_INT = {"conv": lambda n: _conv_size("lenet2", n), "cnn_train_step": _batch}
SIZE_LIMITS = {"conv": 1 << 14, "cnn_train_step": 1 << 14}
SMALL = {"conv": wl.Size("3x9x9→4 k3 p1 b5", (5, 3, 9, 4, 3, 1), 0.0), "cnn_train_step": _batch(6)}


def register() -> None:
    """Into workloads.py's tables (called below: workloads.py imports this module at its end)."""
    wl.WORKLOADS.update({w.name: w for w in WORKLOADS})
    wl.SIZE_FROM_INT.update(SIZE_FROM_INT)
    wl.SIZE_LIMITS.update(SIZE_LIMITS)


register()


# --- the contenders' implementations ----------------------------------------------------------------------

def builders(contender: str) -> dict[str, Builder]:
    """This module's workloads for one contender by name ({} for those without an implementation here)."""
    if contender.startswith("mark1-"):
        return {"conv": _mark1_conv, "cnn_train_step": _mark1_cnn}
    if contender == "numpy":
        return {"conv": lambda inp: _done(lambda out: out.update(conv_forward_backward(inp)), {}),
                "cnn_train_step": _numpy_cnn}
    if contender in ("torch", "torch-cuda"):
        device = "cuda" if contender == "torch-cuda" else "cpu"
        return {"conv": lambda inp: _torch_conv(inp, device), "cnn_train_step": lambda inp: _torch_cnn(inp, device)}
    return {}


def _done(step, out: Arrays) -> Prepared:
    return Prepared(lambda: step(out), lambda: dict(out))


def _numpy_cnn(inp: Arrays) -> Prepared:
    params = [inp[k].copy() for k in CNN_NAMES]
    return Prepared(lambda: cnn_train_step(params, inp["x"], inp["labels"], LEARNING_RATE),
                    lambda: dict(zip(CNN_NAMES, params, strict=True)))


def _mark1_conv(inp: Arrays) -> Prepared:
    import mark1 as m1

    x, w, b, dy = (m1.asarray(inp[k]) for k in ("x", "w", "b", "dy"))
    pad = _padding(x, w, dy)
    y = m1.get_backend().empty(dy.shape, np.float32)
    grads: dict = {}

    def run():
        m1.conv2d_forward(x, w, b, 1, pad, out=y)
        grads["dx"], grads["dw"], grads["db"] = m1.conv2d_backward(x, w, y, dy, 1, pad)

    return Prepared(run, lambda: {"y": m1.to_numpy(y), **{k: m1.to_numpy(v) for k, v in grads.items()}})


def _mark1_cnn(inp: Arrays) -> Prepared:
    """The README's way: nn.Sequential (Conv2d+ReLU fused), CrossEntropyLoss, SGD."""
    import mark1 as m1
    from mark1 import nn

    model = nn.Sequential(nn.Conv2d(1, 8, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(8, 16, 5), nn.ReLU(),
                          nn.MaxPool2d(2), nn.Flatten(), nn.Dense(256, 10))
    params = model.parameters()
    for p, key in zip(params, CNN_NAMES, strict=True):
        p.data = m1.asarray(inp[key].copy())
    loss = nn.CrossEntropyLoss(check_labels=False)
    opt = nn.SGD(params, lr=LEARNING_RATE)
    x, labels = m1.asarray(inp["x"]), m1.asarray(inp["labels"], dtype=np.int64)

    def run():
        loss(model(x), labels)
        model.backward(loss.backward())
        opt.step()

    return Prepared(run, lambda: {k: m1.to_numpy(p.data) for k, p in zip(CNN_NAMES, params, strict=True)})


def _torch_conv(inp: Arrays, device: str) -> Prepared:
    import torch

    x, w, b = (torch.from_numpy(inp[k]).to(device).requires_grad_() for k in ("x", "w", "b"))
    dy = torch.from_numpy(inp["dy"]).to(device)
    pad = _padding(inp["x"], inp["w"], inp["dy"])
    out = {}

    def run():
        x.grad = w.grad = b.grad = None
        out["y"] = torch.nn.functional.conv2d(x, w, b, padding=pad)
        out["y"].backward(dy)

    def host(t):
        return t.detach().cpu().numpy()

    return Prepared(run, lambda: {"y": host(out["y"]), "dx": host(x.grad), "dw": host(w.grad), "db": host(b.grad)})


def _torch_cnn(inp: Arrays, device: str) -> Prepared:
    import torch

    model = torch.nn.Sequential(torch.nn.Conv2d(1, 8, 5), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
                                torch.nn.Conv2d(8, 16, 5), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
                                torch.nn.Flatten(), torch.nn.Linear(256, 10))
    torch_params = [p for m in model if hasattr(m, "weight") for p in (m.weight, m.bias)]
    with torch.no_grad():
        for p, key in zip(torch_params, CNN_NAMES, strict=True):
            p.copy_(torch.from_numpy(inp[key].T.copy() if key == "w3" else inp[key]))
    model.to(device)
    torch_params = [p for m in model if hasattr(m, "weight") for p in (m.weight, m.bias)]
    loss_fn = torch.nn.CrossEntropyLoss()
    opt = torch.optim.SGD(model.parameters(), lr=LEARNING_RATE)
    x, labels = torch.from_numpy(inp["x"]).to(device), torch.from_numpy(inp["labels"]).to(device)

    def run():
        opt.zero_grad(set_to_none=True)
        loss_fn(model(x), labels).backward()
        opt.step()

    def fetch() -> Arrays:
        values = [p.detach().cpu().numpy() for p in torch_params]
        return {k: (v.T if k == "w3" else v) for k, v in zip(CNN_NAMES, values, strict=True)}

    return Prepared(run, fetch)
