"""Lesson 6: the sigmoid's derivative, and why deep sigmoid networks stop learning (the vanishing gradient).

    python examples/06_vanishing_gradient.py [--backend auto] [--out .]

First σ′(x) = σ(x)(1 − σ(x)), computed from σ's output the way backprop does, is checked against central
finite differences (σ(x + ε) − σ(x − ε)) / 2ε. Its largest value is σ′(0) = 1/4.
Backprop multiplies one such factor per layer into the gradient, so in a deep sigmoid network the
gradient reaching the first layers is smaller by roughly 1/4 per layer. ReLU's derivative is 1 wherever
the unit is active, so the same network with ReLU keeps its gradient the same size all the way down.
Both networks: 10 dense layers of width 32 (sigmoid with weights ~ N(0, 1/n), ReLU with N(0, 2/n), He),
one batch, squared-error loss; the backward pass is written out layer by layer with mark1's fused kernels.
Saves vanishing_gradient.png: the norm of each layer's weight gradient, on a log scale.
"""

from __future__ import annotations

import argparse
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import mark1 as m1  # noqa: E402


def check_sigmoid_derivative(eps: float = 1e-4) -> float:
    """Largest |σ(1 − σ) − finite difference| over x in [-8, 8], in float64."""
    x = np.linspace(-8, 8, 161)
    y = m1.sigmoid(m1.asarray(x, dtype=np.float64))
    analytic = m1.sigmoid_backward(y, m1.asarray(np.ones_like(x), dtype=np.float64))  # 1 · y(1 - y)
    plus = m1.sigmoid(m1.asarray(x + eps, dtype=np.float64))
    minus = m1.sigmoid(m1.asarray(x - eps, dtype=np.float64))
    numeric = (plus - minus) / (2 * eps)
    print(f"σ'(0) = {float(m1.to_numpy(analytic)[80]):.6f} (the largest value: 1/4)")
    for i in (40, 80, 120, 160):  # x = -4, 0, 4, 8
        print(f"    x = {x[i]:5.1f}: σ(1-σ) = {float(m1.to_numpy(analytic)[i]):.8f}, "
              f"finite difference = {float(m1.to_numpy(numeric)[i]):.8f}")
    return float(np.abs(m1.to_numpy(analytic - numeric)).max())


def layer_gradient_norms(activation: str, depth: int, width: int, batch: int, seed: int) -> list[float]:
    """‖∂J/∂W‖ for each of `depth` dense layers, first layer first, after one forward and backward pass."""
    rng = np.random.default_rng(seed)
    gain = 2.0 if activation == "relu" else 1.0  # He init for ReLU, LeCun for sigmoid
    weights = [m1.asarray(rng.normal(0, np.sqrt(gain / width), (width, width))) for _ in range(depth)]
    biases = [m1.asarray(np.zeros(width)) for _ in range(depth)]
    x = m1.asarray(rng.normal(size=(batch, width)))
    target = m1.asarray(rng.normal(size=(batch, width)))

    inputs, outputs = [], []  # what each layer saw and produced: backward needs both
    for w, b in zip(weights, biases, strict=True):
        inputs.append(x)
        x = m1.dense_forward(x, w, b, activation)  # act(x @ w + b) in one kernel
        outputs.append(x)
    _, grad = m1.mse(x, target)  # ∂J/∂(network output)

    norms = []
    for layer in reversed(range(depth)):  # the chain rule, from the last layer back to the first
        grad, dW, _ = m1.dense_backward(inputs[layer], weights[layer], outputs[layer], grad, activation)
        norms.append(float(np.linalg.norm(m1.to_numpy(dW))))
    return norms[::-1]


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default=os.environ.get("MARK1_BACKEND", "auto"), help="numpy, numba, cuda or auto")
    parser.add_argument("--out", default=".", help="directory for the PNG")
    parser.add_argument("--depth", type=int, default=10)
    parser.add_argument("--width", type=int, default=32)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    print(f"backend: {m1.use(args.backend).name}")

    derivative_error = check_sigmoid_derivative()
    print(f"largest |σ(1-σ) - finite difference| on [-8, 8]: {derivative_error:.2e}")

    norms = {act: layer_gradient_norms(act, args.depth, args.width, args.batch, args.seed)
             for act in ("sigmoid", "relu")}
    print("layer   ‖∂J/∂W‖ sigmoid   ‖∂J/∂W‖ relu")
    for layer in range(args.depth):
        print(f"{layer + 1:5d}   {norms['sigmoid'][layer]:15.3e}   {norms['relu'][layer]:12.3e}")
    for act, n in norms.items():
        print(f"{act}: first layer's gradient / last layer's = {n[0] / n[-1]:.1e}")

    fig, ax = plt.subplots(figsize=(6, 4))
    layers = np.arange(1, args.depth + 1)
    ax.semilogy(layers, norms["sigmoid"], "o-", label="sigmoid")
    ax.semilogy(layers, norms["relu"], "s-", label="ReLU")
    ax.set(xlabel="layer (1 = nearest the input)", ylabel="‖∂J/∂W‖ (log scale)", xticks=layers,
           title=f"Gradient per layer, {args.depth}-layer network")
    ax.legend()
    ax.grid(True, which="major", alpha=0.3)
    fig.tight_layout()
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, "vanishing_gradient.png")
    fig.savefig(path, dpi=80)
    plt.close(fig)
    print(f"saved {path}")
    return {"derivative_error": derivative_error, "norms": norms, "plot": path}


if __name__ == "__main__":
    main()
