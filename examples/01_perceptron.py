"""Lesson 1: Rosenblatt's perceptron learns AND and OR, and cannot learn XOR.

    python examples/01_perceptron.py [--backend auto] [--out .]

A perceptron computes step(w·x + b) and, after each sample it gets wrong, moves the line towards it:
    w += lr · (y - ŷ) · x,   b += lr · (y - ŷ)
For data a straight line can separate (AND, OR) this rule is guaranteed to stop making mistakes after
finitely many updates (the perceptron convergence theorem). XOR has no such line, so however long it
trains and from wherever it starts, at least one of the four points stays on the wrong side.
Saves perceptron_lines.png: the four points and the line each gate ended with.
"""

from __future__ import annotations

import argparse
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import mark1 as m1  # noqa: E402

INPUTS = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float32)
GATES = {
    "AND": np.array([0, 0, 0, 1], dtype=np.float32),
    "OR": np.array([0, 1, 1, 1], dtype=np.float32),
    "XOR": np.array([0, 1, 1, 0], dtype=np.float32),
}


def predict(X, w, b: float) -> np.ndarray:
    """step(X·w + b) for every row: 1 where the net input is >= 0, else 0."""
    net = m1.to_numpy(m1.matmul(X, w)).ravel() + b
    return (net >= 0).astype(np.float32)


def train_perceptron(y: np.ndarray, epochs: int, lr: float, seed: int) -> dict:
    """Rosenblatt's online rule; returns the weights and, per epoch, mistakes and accuracy after it."""
    rng = np.random.default_rng(seed)
    X = m1.asarray(INPUTS)
    w = m1.asarray(rng.normal(0.0, 0.5, size=(2, 1)))  # a random starting line, different per seed
    b = float(rng.normal(0.0, 0.5))
    mistakes, accuracy = [], []
    for _ in range(epochs):
        wrong = 0
        for i in rng.permutation(len(INPUTS)):  # visit the samples in a fresh order each epoch
            x_i = X[i : i + 1]  # (1, 2) row on the backend
            error = y[i] - predict(x_i, w, b)[0]  # -1, 0 or +1
            if error != 0:
                w += lr * error * x_i.T  # move the line towards the misclassified point
                b += lr * error
                wrong += 1
        mistakes.append(wrong)
        accuracy.append(float((predict(X, w, b) == y).mean()))
    return {"w": m1.to_numpy(w).ravel().astype(float), "b": b, "mistakes": mistakes, "accuracy": accuracy}


def converged_after(mistakes: list[int]) -> int | None:
    """The number of epochs needed: the first epoch without a single mistake, counted from 1."""
    return next((epoch for epoch, wrong in enumerate(mistakes, start=1) if wrong == 0), None)


def plot_lines(results: dict, path: str) -> None:
    fig, axes = plt.subplots(1, 3, figsize=(11, 3.6))
    xs = np.linspace(-0.5, 1.5, 2)
    for ax, (gate, res) in zip(axes, results.items(), strict=True):
        y = GATES[gate]
        ax.scatter(*INPUTS[y == 1].T, marker="o", s=90, c="tab:blue", label="1")
        ax.scatter(*INPUTS[y == 0].T, marker="x", s=90, c="tab:red", label="0")
        (w1, w2), b = res["w"], res["b"]
        if abs(w2) > 1e-9:  # the decision line w1·x1 + w2·x2 + b = 0
            ax.plot(xs, -(w1 * xs + b) / w2, "k-")
        else:
            ax.axvline(-b / w1, color="k")
        ax.set(xlim=(-0.5, 1.5), ylim=(-0.5, 1.5), xlabel="x1", ylabel="x2",
               title=f"{gate}: {round(4 * res['accuracy'][-1])}/4 correct")
        ax.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default=os.environ.get("MARK1_BACKEND", "auto"), help="numpy, numba, cuda or auto")
    parser.add_argument("--out", default=".", help="directory for the PNG")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--lr", type=float, default=0.5)
    parser.add_argument("--seeds", type=int, default=20, help="XOR is tried from this many random starts")
    args = parser.parse_args(argv)
    print(f"backend: {m1.use(args.backend).name}")

    final, epochs_needed = {}, {}
    for gate in ("AND", "OR"):
        final[gate] = train_perceptron(GATES[gate], args.epochs, args.lr, seed=0)
        epochs_needed[gate] = converged_after(final[gate]["mistakes"])
        print(f"{gate}: no mistakes after {epochs_needed[gate]} epochs; w = {final[gate]['w'].round(2)}, "
              f"b = {final[gate]['b']:.2f}")

    # XOR: the best accuracy reached at any epoch, from each of many random starting lines
    xor_runs = [train_perceptron(GATES["XOR"], args.epochs, args.lr, seed=s) for s in range(args.seeds)]
    xor_best = max(max(run["accuracy"]) for run in xor_runs)
    final["XOR"] = xor_runs[0]
    print(f"XOR: best accuracy over {args.seeds} seeds x {args.epochs} epochs = {round(4 * xor_best)}/4 "
          "(no line separates XOR)")

    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, "perceptron_lines.png")
    plot_lines(final, path)
    print(f"saved {path}")
    return {"epochs_to_converge": epochs_needed, "final_accuracy": {g: r["accuracy"][-1] for g, r in final.items()},
            "xor_best_accuracy": xor_best, "plot": path}


if __name__ == "__main__":
    main()
