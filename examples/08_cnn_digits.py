"""Lesson 8: a convolutional network on the 8×8 digits (or MNIST), beating lesson 7's MLP.

    python examples/08_cnn_digits.py [--backend auto] [--out .] [--mnist DIR]

The digits become 1×8×8 images (NCHW, as torch). Two 3×3 convolutions with ReLU, each followed by 2×2 max
pooling, learn local stroke detectors that do not care where in the image a stroke is; Flatten and a Dense
layer turn the 32×2×2 feature maps into 10 logits. Same split, loss and optimizer as lesson 7 (the MLP:
97.8%); the CNN reaches about 99% test accuracy. With --mnist DIR it trains on the MNIST IDX files in DIR
(train-images-idx3-ubyte[.gz] etc., read by mark1.data.load_idx) instead: 1×28×28 images.
Saves cnn_filters.png (the 16 learned first-layer filters) and cnn_feature_maps.png (one test digit
and what each first-layer filter makes of it).
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402

import mark1 as m1  # noqa: E402
from mark1 import nn  # noqa: E402
from mark1.data import load_idx  # noqa: E402


def mnist(folder: str) -> tuple:
    """(X_train, X_test, y_train, y_test) from the four MNIST IDX files in folder (gzip or not)."""
    def read(stem: str) -> np.ndarray:
        for name in (stem, stem + ".gz"):
            if (Path(folder) / name).is_file():
                return load_idx(Path(folder) / name)
        raise FileNotFoundError(f"{folder}: no {stem} or {stem}.gz")

    images = [read(f"{part}-images-idx3-ubyte")[:, None] / np.float32(255) for part in ("train", "t10k")]
    labels = [read(f"{part}-labels-idx1-ubyte").astype(np.int64) for part in ("train", "t10k")]
    return images[0], images[1], labels[0], labels[1]


def cnn(side: int) -> nn.Sequential:
    flat = 32 * (side // 4) ** 2
    return nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Flatten(), nn.Dense(flat, 10))


def plot_grid(images: np.ndarray, titles: list[str], title: str, path: str) -> None:
    columns = 8
    rows = -(-len(images) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(columns * 1.1, rows * 1.25), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for ax, image, name in zip(axes.ravel(), images, titles, strict=False):
        if name.startswith("filter"):  # weights: red positive, blue negative, white zero
            limit = np.abs(image).max()
            ax.imshow(image, cmap="RdBu_r", vmin=-limit, vmax=limit)
        else:
            ax.imshow(image, cmap="gray_r" if name.startswith("digit") else "viridis")
        ax.set_title(name, fontsize=8)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=70)
    plt.close(fig)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default=os.environ.get("MARK1_BACKEND", "auto"), help="numpy, numba, cuda or auto")
    parser.add_argument("--out", default=".", help="directory for the PNGs")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--mnist", default=None, help="a folder with MNIST's IDX files, instead of the digits")
    parser.add_argument("--seed", type=int, default=0, help="fixes the train/test split and the initial weights")
    args = parser.parse_args(argv)
    print(f"backend: {m1.use(args.backend).name}")

    if args.mnist:
        X_train, X_test, y_train, y_test = mnist(args.mnist)
    else:
        digits = load_digits()
        X = (digits.images / 16.0).astype(np.float32)[:, None]  # (1797, 1, 8, 8), pixels in [0, 1]
        X_train, X_test, y_train, y_test = train_test_split(
            X, digits.target, test_size=0.25, random_state=args.seed, stratify=digits.target)
    print(f"{len(X_train)} training and {len(X_test)} test images of shape {X_train.shape[1:]}")

    m1.seed(args.seed)
    model = cnn(X_train.shape[-1])
    start = time.perf_counter()
    history = model.fit(X_train, y_train, loss=nn.CrossEntropyLoss(),
                        optimizer=nn.Adam(model.parameters(), lr=3e-3),
                        epochs=args.epochs, batch_size=32, progress=False)
    seconds = time.perf_counter() - start
    predicted = m1.to_numpy(model.predict(m1.asarray(X_test), batch_size=500)).argmax(axis=1)
    accuracy = float((predicted == y_test).mean())
    print(f"trained {args.epochs} epochs in {seconds:.1f} s; loss {history['loss'][0]:.3f} → {history['loss'][-1]:.4f}")
    print(f"test accuracy: {accuracy:.2%} ({int((predicted == y_test).sum())}/{len(y_test)})")

    os.makedirs(args.out, exist_ok=True)
    filters_path = os.path.join(args.out, "cnn_filters.png")
    maps_path = os.path.join(args.out, "cnn_feature_maps.png")
    filters = m1.to_numpy(model.layers[0].weight.data)[:, 0]
    plot_grid(filters, [f"filter {i}" for i in range(len(filters))], "Learned first-layer 3×3 filters", filters_path)
    maps = m1.to_numpy(model.layers[1]._y)  # the first conv+ReLU's output of the last predicted batch
    digit = X_test[len(X_test) - len(maps)]
    plot_grid(np.concatenate([digit, maps[0]]), ["digit"] + [f"map {i}" for i in range(len(maps[0]))],
              f"A test digit ({y_test[len(X_test) - len(maps)]}) and its 16 first-layer feature maps", maps_path)
    print(f"saved {filters_path} and {maps_path}")
    return {"test_accuracy": accuracy, "seconds": seconds, "loss": history["loss"], "plots": [filters_path, maps_path]}


if __name__ == "__main__":
    main()
