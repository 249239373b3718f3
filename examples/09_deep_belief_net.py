"""Lesson 9: deep belief nets (Hinton, Osindero & Teh 2006), greedy RBM pretraining, then fine-tuning.

    python examples/09_deep_belief_net.py [--backend auto] [--out .]

A 64-128-64 DBN is pretrained layer by layer on scikit-learn's 8×8 digits (pixels in [0, 1] read as
probabilities), with PCD-1 and momentum; `to_sequential(10)` turns it into a sigmoid MLP that Adam
fine-tunes with softmax cross-entropy. Then the honest question: does pretraining help? The same network is
trained from a random start, on all labels and on 10% of them (the pretraining still sees every training
image, without labels, as a semi-supervised learner would). Saves dbn_filters.png (first-layer weights) and
dbn_gibbs_samples.png (Gibbs chains of the first RBM started from noise).
"""

from __future__ import annotations

import argparse
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402

import mark1 as m1  # noqa: E402
from mark1 import nn  # noqa: E402

SIZES = [64, 128, 64]


def tiles(images: np.ndarray, rows: int, path: str, title: str, row_labels=None) -> None:
    columns = -(-len(images) // rows)
    fig, axes = plt.subplots(rows, columns, figsize=(columns * 0.7, rows * 0.75), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for ax, image in zip(axes.ravel(), images, strict=False):
        ax.imshow(image.reshape(8, 8), cmap="gray_r", interpolation="nearest")
    for r, label in enumerate(row_labels or []):
        axes[r, 0].set_title(label, fontsize=7, loc="left")
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=70)
    plt.close(fig)


def fine_tune(model, x, y, epochs: int, seed: int) -> None:
    model.fit(x, y, loss=nn.CrossEntropyLoss(), optimizer=nn.Adam(model.parameters(), lr=3e-3), epochs=epochs,
              batch_size=32, progress=False, rng=seed)


def accuracy(model, x, y) -> float:
    return float((m1.to_numpy(model.predict(m1.asarray(x))).argmax(axis=1) == y).mean())


def random_init_net(seed: int):
    layers = []
    for a, b in zip(SIZES, SIZES[1:], strict=False):
        layers += [nn.Dense(a, b, init="xavier", rng=seed + a + b), nn.Sigmoid()]
    return nn.Sequential(*layers, nn.Dense(SIZES[-1], 10, rng=seed))


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default=os.environ.get("MARK1_BACKEND", "auto"), help="numpy, numba, cuda or auto")
    parser.add_argument("--out", default=".", help="directory for the PNGs")
    parser.add_argument("--pretrain-epochs", type=int, default=30)
    parser.add_argument("--epochs", type=int, default=60, help="fine-tuning epochs")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    print(f"backend: {m1.use(args.backend).name}")
    digits = load_digits()
    X = (digits.data / 16.0).astype(np.float32)
    X_train, X_test, y_train, y_test = train_test_split(
        X, digits.target, test_size=0.25, random_state=args.seed, stratify=digits.target)

    dbn = nn.DBN(SIZES, lr=0.05, momentum=0.5, rng=args.seed)
    histories = dbn.pretrain(X_train, epochs=args.pretrain_epochs, batch_size=10, progress=False)
    for i, h in enumerate(histories):
        print(f"RBM {i + 1} ({SIZES[i]}-{SIZES[i + 1]}): pseudo-log-likelihood {h['pseudo_log_likelihood'][0]:.1f} "
              f"→ {h['pseudo_log_likelihood'][-1]:.1f}, reconstruction error {h['reconstruction_error'][-1]:.4f}")

    os.makedirs(args.out, exist_ok=True)
    filters_path = os.path.join(args.out, "dbn_filters.png")
    tiles(m1.to_numpy(dbn.rbms[0].weight.data).T[:48], 4, filters_path, "First-layer RBM filters (weights)")
    rbm = dbn.rbms[0]
    chains = np.random.default_rng(args.seed).integers(0, 2, (8, 64)).astype(np.float32)
    snapshots, done = [chains], 0
    for steps in (1, 10, 100, 1000):  # snapshots after this many Gibbs steps in all
        chains = m1.to_numpy(rbm.gibbs(chains, steps=steps - done))
        snapshots.append(chains)
        done = steps
    samples_path = os.path.join(args.out, "dbn_gibbs_samples.png")
    tiles(np.concatenate(snapshots), len(snapshots), samples_path, "Gibbs chains from noise (rows: after 0, 1, 10, "
          "100, 1000 steps)")

    results = {}
    subset = train_test_split(np.arange(len(X_train)), train_size=0.1, random_state=args.seed,
                              stratify=y_train)[0]
    for labelled, rows in (("all labels", np.arange(len(X_train))), ("10% of labels", subset)):
        for start in ("pretrained", "random init"):
            model = dbn.to_sequential(10, rng=args.seed) if start == "pretrained" else random_init_net(args.seed)
            fine_tune(model, X_train[rows], y_train[rows], args.epochs, args.seed)
            results[(labelled, start)] = accuracy(model, X_test, y_test)
            print(f"{labelled:>13} ({len(rows):4d} images), {start:>11}: test accuracy "
                  f"{results[(labelled, start)]:.2%}")
    gain = results[("10% of labels", "pretrained")] - results[("10% of labels", "random init")]
    print(f"with 10% of the labels, pretraining {'helps' if gain > 0 else 'does not help'}: {gain:+.2%} "
          "(an 8×8 digit is easy; Hinton et al.'s 784-500-500-2000 DBN reached 1.25% error on MNIST)")
    return {"accuracy": {f"{k[0]}, {k[1]}": v for k, v in results.items()}, "pretrain_histories": histories,
            "gain_with_10_percent": gain, "plots": [filters_path, samples_path]}


if __name__ == "__main__":
    main()
