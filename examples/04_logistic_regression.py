"""Lesson 4: logistic regression by gradient descent on a real data set, checked against scikit-learn.

    python examples/04_logistic_regression.py [--backend auto] [--out .]

Data: scikit-learn's breast cancer set (569 tumours, malignant 0 / benign 1), four of its measurements
(mean radius, texture, smoothness, concavity), standardised. The hypothesis is h(x) = σ(w·x + b), the
probability of class 1, and the cost is the cross-entropy
    J(w, b) = −1/m Σ [y log h + (1 − y) log(1 − h)]
whose gradient has the same shape as linear regression's: ∂J/∂w = 1/m Σ (h − y)·x.
Gradient descent with mark1 ops reaches the same optimum as scikit-learn's unregularised
LogisticRegression, so both predict the same class for (nearly) every tumour.
(All 30 measurements would make the classes separable: then no finite optimum exists, the weights grow
forever, and two solvers stop at different places. Four measurements keep the lesson well posed.)
Saves logistic_regression.png: the cost per step.
"""

from __future__ import annotations

import argparse
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.datasets import load_breast_cancer  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402

import mark1 as m1  # noqa: E402

FEATURES = ["mean radius", "mean texture", "mean smoothness", "mean concavity"]


def load_data() -> tuple[np.ndarray, np.ndarray]:
    data = load_breast_cancer()
    columns = [list(data.feature_names).index(name) for name in FEATURES]
    X = data.data[:, columns]
    X = (X - X.mean(axis=0)) / X.std(axis=0)
    return X.astype(np.float32), data.target.astype(np.float32).reshape(-1, 1)


def train(X_host: np.ndarray, y_host: np.ndarray, steps: int, lr: float) -> tuple[np.ndarray, float, list[float]]:
    """Full-batch gradient descent on the cross-entropy; returns w, b and J at every step."""
    X, y = m1.asarray(X_host), m1.asarray(y_host)
    w, b = m1.asarray(np.zeros((X_host.shape[1], 1))), m1.asarray(np.zeros(1))
    costs = []
    for _ in range(steps):
        h = m1.sigmoid(m1.matmul(X, w) + b)  # h = σ(Xw + b), one probability per sample
        J, dJ_dh = m1.bce(h, y)  # the cross-entropy and its derivative in h
        costs.append(float(J))
        delta = m1.sigmoid_backward(h, dJ_dh)  # dJ/dz = dJ/dh · h(1 - h) = (h - y)/m
        w -= lr * m1.matmul(X.T, delta)  # ∂J/∂w = Xᵀ (h - y)/m
        b -= lr * delta.sum(axis=0)
    return m1.to_numpy(w).ravel().astype(np.float64), float(m1.to_numpy(b)[0]), costs


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default=os.environ.get("MARK1_BACKEND", "auto"), help="numpy, numba, cuda or auto")
    parser.add_argument("--out", default=".", help="directory for the PNG")
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--lr", type=float, default=2.0)
    args = parser.parse_args(argv)
    print(f"backend: {m1.use(args.backend).name}")

    X, y = load_data()
    w, b, costs = train(X, y, args.steps, args.lr)
    ours = (X.astype(np.float64) @ w + b >= 0).astype(int)  # class 1 where h >= 0.5

    # C = inf: no regularisation, the same cost as ours (scikit-learn's default adds an L2 penalty)
    reference = LogisticRegression(C=np.inf, max_iter=1000).fit(X, y.ravel())
    theirs = reference.predict(X)
    agreement = float((ours == theirs).mean())
    accuracy = float((ours == y.ravel()).mean())

    print(f"J after {args.steps} steps: {costs[-1]:.5f} (started at {costs[0]:.5f} = log 2)")
    print(f"{'':16s} {'mark1':>9s} {'sklearn':>9s}")
    for name, ours_w, theirs_w in zip(FEATURES, w, reference.coef_[0], strict=True):
        print(f"w {name:14s} {ours_w:9.4f} {theirs_w:9.4f}")
    print(f"b {'':14s} {b:9.4f} {reference.intercept_[0]:9.4f}")
    print(f"training accuracy: {accuracy:.2%}; predictions agree with scikit-learn on {agreement:.2%} "
          f"of {len(y)} samples")

    fig, ax = plt.subplots(figsize=(5, 3.5))
    ax.semilogy(np.arange(1, len(costs) + 1), costs)
    ax.set(xlabel="gradient-descent step", ylabel="J (cross-entropy)", title="Logistic regression: cost")
    fig.tight_layout()
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, "logistic_regression.png")
    fig.savefig(path, dpi=80)
    plt.close(fig)
    print(f"saved {path}")
    return {"agreement": agreement, "accuracy": accuracy, "costs": costs, "w": w, "b": b,
            "sklearn_w": reference.coef_[0], "sklearn_b": float(reference.intercept_[0]), "plot": path}


if __name__ == "__main__":
    main()
