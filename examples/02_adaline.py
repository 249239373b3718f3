"""Lesson 2: Adaline (Widrow–Hoff delta rule) beside the perceptron, on the same data.

    python examples/02_adaline.py [--backend auto] [--out .]

Data: the iris flowers setosa vs versicolor, by sepal length and sepal width (standardised), labels ±1.
The perceptron looks at step(w·x + b) and only counts mistakes: each one moves the line.
Adaline learns on the net input itself: it minimises the squared error J = 1/(2m) Σ (w·x + b − y)² by
gradient descent (the delta rule), and thresholds only to classify. So its curve is a smooth cost going
down to the least-squares minimum, while the perceptron's is a count of mistakes dropping to zero.
The two goals differ: these classes are separable, so the perceptron ends with no mistakes, while the
least-squares line Adaline settles on still leaves a point on the wrong side.
Saves adaline_vs_perceptron.png: both curves per epoch.
"""

from __future__ import annotations

import argparse
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402
from sklearn.datasets import load_iris  # noqa: E402

import mark1 as m1  # noqa: E402


def load_data() -> tuple[np.ndarray, np.ndarray]:
    iris = load_iris()
    keep = iris.target < 2  # setosa (0) and versicolor (1)
    X = iris.data[keep][:, [0, 1]]  # sepal length, sepal width
    X = (X - X.mean(axis=0)) / X.std(axis=0)
    y = np.where(iris.target[keep] == 1, 1.0, -1.0)
    return X.astype(np.float32), y.astype(np.float32).reshape(-1, 1)


def perceptron(X_host: np.ndarray, y_host: np.ndarray, epochs: int, lr: float) -> list[int]:
    """Rosenblatt's rule with ±1 labels; returns the number of mistakes (updates) in each epoch."""
    X, w, b = m1.asarray(X_host), m1.asarray(np.zeros((2, 1))), 0.0
    mistakes = []
    for _ in range(epochs):
        wrong = 0
        for i in range(len(X_host)):
            net = float(m1.to_numpy(m1.matmul(X[i : i + 1], w))[0, 0]) + b
            error = y_host[i, 0] - (1.0 if net >= 0 else -1.0)  # 0 or ±2
            if error != 0:
                w += lr * error * X[i : i + 1].T
                b += lr * error
                wrong += 1
        mistakes.append(wrong)
    return mistakes


def adaline(X_host: np.ndarray, y_host: np.ndarray, epochs: int, lr: float) -> dict:
    """Full-batch delta rule: after each epoch the cost J and the mistakes of sign(net); the final weights."""
    X, y = m1.asarray(X_host), m1.asarray(y_host)
    w, b = m1.asarray(np.zeros((2, 1))), m1.asarray(np.zeros(1))
    costs, mistakes = [], []
    for _ in range(epochs):
        net = m1.matmul(X, w) + b  # the linear activation: Adaline learns on this, not on the step
        _, dJ_dnet = m1.mse(net, y)  # J = 1/(2m) Σ (net - y)², and dJ/dnet = (net - y)/m
        w -= lr * m1.matmul(X.T, dJ_dnet)  # the delta rule: ∂J/∂w = Xᵀ (net - y)/m
        b -= lr * dJ_dnet.sum(axis=0)
        net = m1.matmul(X, w) + b  # where the updated line stands, for the curves
        costs.append(float(m1.mse(net, y)[0]))
        mistakes.append(int((np.where(m1.to_numpy(net) >= 0, 1.0, -1.0) != y_host).sum()))
    return {"costs": costs, "mistakes": mistakes, "w": m1.to_numpy(w).ravel(), "b": float(m1.to_numpy(b)[0])}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default=os.environ.get("MARK1_BACKEND", "auto"), help="numpy, numba, cuda or auto")
    parser.add_argument("--out", default=".", help="directory for the PNG")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--lr", type=float, default=0.2)
    args = parser.parse_args(argv)
    print(f"backend: {m1.use(args.backend).name}")

    X, y = load_data()
    p_mistakes = perceptron(X, y, args.epochs, args.lr)
    ada = adaline(X, y, args.epochs, args.lr)
    # the least-squares optimum Adaline is heading for, solved directly for comparison
    design = np.hstack([X, np.ones((len(X), 1))]).astype(np.float64)
    coef = np.linalg.lstsq(design, y.astype(np.float64), rcond=None)[0]
    best_cost = float(((design @ coef - y) ** 2).sum() / (2 * len(X)))

    print("epoch  perceptron mistakes  Adaline J   Adaline mistakes")
    for epoch in range(args.epochs):
        print(f"{epoch + 1:5d}  {p_mistakes[epoch]:19d}  {ada['costs'][epoch]:9.4f}   {ada['mistakes'][epoch]:5d}")
    print(f"least-squares minimum of J: {best_cost:.4f}  (Adaline after {args.epochs} epochs: {ada['costs'][-1]:.4f})")

    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.6))
    epochs = np.arange(1, args.epochs + 1)
    left.plot(epochs, p_mistakes, "o-", label="perceptron")
    left.plot(epochs, ada["mistakes"], "s--", label="Adaline (sign of net input)")
    left.set(xlabel="epoch", ylabel="misclassified samples", title="Mistakes per epoch")
    left.legend()
    for axis in (left.xaxis, left.yaxis, right.xaxis):  # epochs and mistakes are whole numbers
        axis.set_major_locator(MaxNLocator(integer=True))
    right.plot(epochs, ada["costs"], "o-", color="tab:green", label="Adaline J")
    right.axhline(best_cost, color="gray", ls=":", label="least-squares minimum")
    right.set(xlabel="epoch", ylabel="J = 1/(2m) Σ (net − y)²", title="Adaline: squared error on the net input")
    right.legend()
    fig.tight_layout()
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, "adaline_vs_perceptron.png")
    fig.savefig(path, dpi=80)
    plt.close(fig)
    print(f"saved {path}")
    return {"perceptron_mistakes": p_mistakes, "adaline_costs": ada["costs"], "adaline_mistakes": ada["mistakes"],
            "least_squares_cost": best_cost, "plot": path}


if __name__ == "__main__":
    main()
