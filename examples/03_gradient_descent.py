"""Lesson 3: gradient descent on the lecture's cars sample, by hand with mark1 ops and with mark1.nn.

    python examples/03_gradient_descent.py [--backend auto] [--out .]

Five cars, speed x and stopping distance y. Hypothesis h(x) = w·x + b, cost J = 1/(2m) Σ (h(x) − y)².
Gradient descent repeats  w -= lr · ∂J/∂w,  b -= lr · ∂J/∂b  with
    ∂J/∂w = 1/m Σ (h − y)·x,   ∂J/∂b = 1/m Σ (h − y)
and ends at the least-squares line b = 11.5, w = 1.5 (sum of squared errors 59), the same answer the
closed form gives. Then the same fit with nn.Dense(1, 1) + nn.MSELoss + nn.SGD.
Saves gradient_descent.png: the line over the points, and J over the (w, b) plane with the descent path.
"""

from __future__ import annotations

import argparse
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import mark1 as m1  # noqa: E402
from mark1 import nn  # noqa: E402

CARS = np.array([(0, 12), (2, 16), (3, 10), (6, 20), (4, 22)], dtype=np.float32)  # (speed, distance)


def descend_with_ops(steps: int, lr: float) -> tuple[float, float, np.ndarray]:
    """Full-batch gradient descent written out with mark1 ops; returns w, b and the path [(w, b), ...]."""
    X, y = m1.asarray(CARS[:, :1]), m1.asarray(CARS[:, 1:])  # (5, 1) each
    w, b = m1.asarray(np.zeros((1, 1))), m1.asarray(np.zeros(1))  # start at w = b = 0
    path = [(0.0, 0.0)]
    for _ in range(steps):
        h = m1.matmul(X, w) + b  # h(x) = w·x + b for all five cars at once
        _, dJ_dh = m1.mse(h, y)  # J and ∂J/∂h = (h - y)/m
        w -= lr * m1.matmul(X.T, dJ_dh)  # ∂J/∂w = Σ (h - y)·x / m
        b -= lr * dJ_dh.sum(axis=0)  # ∂J/∂b = Σ (h - y) / m
        path.append((float(m1.to_numpy(w)[0, 0]), float(m1.to_numpy(b)[0])))
    return path[-1][0], path[-1][1], np.array(path)


def descend_with_nn(steps: int, lr: float) -> tuple[float, float]:
    """The same descent with a one-neuron network, a loss object and an optimizer."""
    model = nn.Dense(1, 1)
    model.weight.data[...] = 0  # the same start as above, so both walk the same path
    model.bias.data[...] = 0
    loss = nn.MSELoss()  # J = 1/(2m) Σ (h - y)²
    optimizer = nn.SGD(model.parameters(), lr=lr)
    X, y = m1.asarray(CARS[:, :1]), m1.asarray(CARS[:, 1:])
    for _ in range(steps):
        loss(model(X), y)
        model.backward(loss.backward())  # fills weight.grad and bias.grad
        optimizer.step()
        optimizer.zero_grad()
    return float(m1.to_numpy(model.weight.data)[0, 0]), float(m1.to_numpy(model.bias.data)[0])


def sse(w: float, b: float) -> float:
    x, y = CARS[:, 0].astype(np.float64), CARS[:, 1].astype(np.float64)
    return float(((w * x + b - y) ** 2).sum())


def plot(w: float, b: float, path: np.ndarray, file: str) -> None:
    x, y = CARS[:, 0], CARS[:, 1]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    left.scatter(x, y, c="tab:red", zorder=3, label="cars")
    xs = np.linspace(-0.5, 6.5, 2)
    left.plot(xs, w * xs + b, "k-", label=f"h(x) = {w:.2f}·x + {b:.2f}")
    left.set(xlabel="speed", ylabel="stopping distance", title="Least-squares line")
    left.legend()
    ws, bs = np.meshgrid(np.linspace(-1.5, 6, 200), np.linspace(-2, 16, 200))
    J = ((ws[..., None] * x + bs[..., None] - y) ** 2).sum(axis=-1) / (2 * len(x))
    contours = right.contour(ws, bs, J, levels=np.geomspace(J.min() + 0.1, J.max(), 15), cmap="viridis")
    right.clabel(contours, fontsize=7, fmt="%.0f")
    right.plot(path[:, 0], path[:, 1], "r.-", ms=3, lw=1, label="gradient descent")
    right.plot([1.5], [11.5], "k*", ms=12, label="minimum (1.5, 11.5)")
    right.set(xlabel="w", ylabel="b", title="J(w, b) and the descent path")
    right.legend(loc="lower left", fontsize=8)
    fig.tight_layout()
    fig.savefig(file, dpi=80)
    plt.close(fig)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default=os.environ.get("MARK1_BACKEND", "auto"), help="numpy, numba, cuda or auto")
    parser.add_argument("--out", default=".", help="directory for the PNG")
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--lr", type=float, default=0.1, help="above 2/13.7 ≈ 0.146 the descent diverges here")
    args = parser.parse_args(argv)
    print(f"backend: {m1.use(args.backend).name}")

    w, b, path = descend_with_ops(args.steps, args.lr)
    print(f"mark1 ops: after {args.steps} steps w = {w:.4f}, b = {b:.4f}, SSE = {sse(w, b):.4f}")
    for step in [s for s in (0, 1, 10, 100) if s < len(path)]:
        print(f"    step {step:4d}: w = {path[step, 0]:8.4f}, b = {path[step, 1]:8.4f}, SSE = {sse(*path[step]):8.2f}")
    nn_w, nn_b = descend_with_nn(args.steps, args.lr)
    print(f"mark1.nn:  after {args.steps} steps w = {nn_w:.4f}, b = {nn_b:.4f}, SSE = {sse(nn_w, nn_b):.4f}")
    x, y = CARS[:, 0].astype(np.float64), CARS[:, 1].astype(np.float64)
    exact_w, exact_b = np.polyfit(x, y, 1)
    print(f"closed form (least squares): w = {exact_w:.4f}, b = {exact_b:.4f}, SSE = {sse(exact_w, exact_b):.4f}")

    os.makedirs(args.out, exist_ok=True)
    file = os.path.join(args.out, "gradient_descent.png")
    plot(w, b, path, file)
    print(f"saved {file}")
    return {"w": w, "b": b, "sse": sse(w, b), "nn_w": nn_w, "nn_b": nn_b, "nn_sse": sse(nn_w, nn_b),
            "path": path, "plot": file}


if __name__ == "__main__":
    main()
