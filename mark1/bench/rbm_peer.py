"""mark1's BernoulliRBM against scikit-learn's on binarised digits: `python -m mark1.bench.rbm_peer`.

Both fit 100 hidden units with learning rate 0.06, PCD-1, 20 epochs, no momentum or weight decay, batches in
data order (scikit-learn does not shuffle), at batch 10 and batch 100; mark1 in float32 (its default),
scikit-learn in float64 (it converts the data to it), neither computing a history while it fits. The fits
are timed interleaved (mark1, scikit-learn, mark1, ...) after one warm-up fit each, and the minimum of the
repeats is reported; scikit-learn's is the better of OpenBLAS on every core and on one (mark1's fused epoch
runs on one core). Quality is the mean pseudo-log-likelihood of the training data computed the same way for both trained
models: exactly over every bit (mark1.rbm_ops.pseudo_likelihood in float64), not from one random flip.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

import mark1 as m1
from mark1 import nn, rbm_ops

HIDDEN, LEARNING_RATE, EPOCHS = 100, 0.06, 20


def binarised_digits() -> np.ndarray:
    from sklearn.datasets import load_digits

    return (load_digits().data / 16.0 > 0.5).astype(np.float64)


def exact_pll(weight: np.ndarray, visible_bias: np.ndarray, hidden_bias: np.ndarray, x: np.ndarray) -> float:
    """Mean exact pseudo-log-likelihood of x's rows under (W, b, c), in float64 on the NumPy reference."""
    with m1.backend("numpy"):
        args = (m1.asarray(a, "float64") for a in (x, weight, visible_bias, hidden_bias))
        return float(m1.to_numpy(rbm_ops.pseudo_likelihood(*args)).mean())


def fit_sklearn(x: np.ndarray, batch_size: int, seed: int, blas_threads: int | None = None):
    """scikit-learn's fit; blas_threads limits OpenBLAS (None: its default, every core)."""
    from sklearn.neural_network import BernoulliRBM
    from threadpoolctl import threadpool_limits

    rbm = BernoulliRBM(n_components=HIDDEN, learning_rate=LEARNING_RATE, batch_size=batch_size, n_iter=EPOCHS,
                       random_state=seed)
    with threadpool_limits(limits=blas_threads, user_api="blas"):
        start = time.perf_counter()
        rbm.fit(x)
        seconds = time.perf_counter() - start
    return seconds, (rbm.components_.T, rbm.intercept_visible_, rbm.intercept_hidden_)


def fit_mark1(x: np.ndarray, batch_size: int, seed: int, backend: str):
    with m1.backend(backend):
        rbm = nn.BernoulliRBM(x.shape[1], HIDDEN, lr=LEARNING_RATE, k=1, persistent=True, rng=seed)
        data = m1.asarray(x)  # moved once, as a user holding device data would; fit checks it on the host
        start = time.perf_counter()
        rbm.fit(data, epochs=EPOCHS, batch_size=batch_size, progress=False, shuffle=False, monitor_rows=0)
        m1.get_backend().synchronize()
        seconds = time.perf_counter() - start
        return seconds, tuple(m1.to_numpy(p.data).astype(np.float64) for p in rbm.parameters())


def compare(batch_size: int, backend: str, repeats: int, seed: int = 0) -> dict:
    x = binarised_digits()
    fit_mark1(x, batch_size, seed, backend)  # warm-up: JIT compilation (or numba's cache load)
    fit_sklearn(x, batch_size, seed)
    ours, theirs = [], []
    for _ in range(repeats):
        seconds, ours_params = fit_mark1(x, batch_size, seed, backend)
        ours.append(seconds)
        for threads in (None, 1):  # scikit-learn's better of all cores and one (OpenBLAS threads can lose)
            seconds, sk_params = fit_sklearn(x, batch_size, seed, threads)
            theirs.append(seconds)
    pll_ours, pll_sklearn = exact_pll(*ours_params, x), exact_pll(*sk_params, x)
    return {
        "backend": backend, "batch_size": batch_size, "repeats": repeats,
        "mark1_fit_s": min(ours), "sklearn_fit_s": min(theirs), "speedup": min(theirs) / min(ours),
        "mark1_pll": pll_ours, "sklearn_pll": pll_sklearn,
        "pll_gap_percent": 100 * (pll_ours - pll_sklearn) / abs(pll_sklearn),  # > 0: mark1's is better
        "initial_pll": exact_pll(np.zeros((x.shape[1], HIDDEN)), np.zeros(x.shape[1]), np.zeros(HIDDEN), x),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default="numba")
    parser.add_argument("--batch-sizes", default="10,100")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args(argv)
    results = [compare(int(b), args.backend, args.repeats) for b in args.batch_sizes.split(",")]
    print(f"{'batch':>5} {'mark1 s':>8} {'sklearn s':>9} {'speedup':>7} {'mark1 PLL':>10} {'sklearn PLL':>11} "
          f"{'gap %':>6}")
    for r in results:
        print(f"{r['batch_size']:>5} {r['mark1_fit_s']:>8.3f} {r['sklearn_fit_s']:>9.3f} {r['speedup']:>6.1f}x "
              f"{r['mark1_pll']:>10.3f} {r['sklearn_pll']:>11.3f} {r['pll_gap_percent']:>+6.2f}")
    print(f"(backend {args.backend}; PLL = mean exact pseudo-log-likelihood per digit, 64 bits; "
          f"untrained: {results[0]['initial_pll']:.3f})")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
