"""The `rbm_step` benchmark workload: one CD-1 update of a 784×500 Bernoulli RBM (MNIST's shape), float32.

mark1 runs rbm_ops.rbm_epoch over one batch (its Philox draws included). The NumPy reference is the plain
formula with the same uniforms handed to it precomputed (so NumPy pays nothing for random numbers: a ratio in
mark1's disfavour), and the float64 oracle is that formula in float64. Work counts the five products of a
CD-1 update (v0W, h0Wᵀ, v1W, v0ᵀh0, v1ᵀh1) as dense products, 10·batch·784·500 FLOP, although mark1's CPU
kernel skips the zero units of its sampled and data operands; samples/s = batch × steps/s.
"""

from __future__ import annotations

import numpy as np

from mark1.bench import references  # a module, not names: references imports workloads, which imports this
from mark1.bench.workloads import Arrays, Size, Workload, check_train
from mark1.kernels import philox

SHAPE = (784, 500)
SEED = 2006                 # Philox key of the benchmark's draws (steps 0, 1: the h0 and v1 samples)
LEARNING_RATE = 0.1
PARAMS = ("w", "vbias", "hbias")


def batch(n: int) -> Size:
    return Size(f"batch {n}", (n,), float(n))


def flop(size: Size) -> float:
    return 10.0 * size.dims[0] * SHAPE[0] * SHAPE[1]


def make_inputs(size: Size, rng: np.random.Generator) -> Arrays:
    m, (n_visible, n_hidden) = size.dims[0], SHAPE
    return {
        "v": (rng.random((m, n_visible)) < 0.2).astype(np.float32),   # about MNIST's share of ink
        "w": (0.01 * rng.standard_normal(SHAPE)).astype(np.float32),
        "vbias": (0.1 * rng.standard_normal(n_visible)).astype(np.float32),
        "hbias": (0.1 * rng.standard_normal(n_hidden)).astype(np.float32),
        "u_h": philox.uniform(SEED, 0, m * n_hidden).reshape(m, n_hidden),
        "u_v": philox.uniform(SEED, 1, m * n_visible).reshape(m, n_visible),
    }


def cd1_step(xp, w, vbias, hbias, v, u_h, u_v, lr: float) -> None:
    """CD-1 in place from given uniforms: h0 = σ(vW + c), v1 ~ σ(h0s Wᵀ + b), h1 = σ(v1 W + c)."""
    def sigmoid(x):
        return 1 / (1 + xp.exp(-x))

    h0 = sigmoid(v @ w + hbias)
    h0s = (u_h < h0).astype(w.dtype)
    v1 = (u_v < sigmoid(h0s @ w.T + vbias)).astype(w.dtype)
    h1 = sigmoid(v1 @ w + hbias)
    m = v.shape[0]
    w += lr * (v.T @ h0 - v1.T @ h1) / m
    vbias += lr * (v - v1).sum(axis=0) / m
    hbias += lr * (h0 - h1).sum(axis=0) / m


def oracle(inputs: Arrays) -> Arrays:
    params = {k: inputs[k].astype(np.float64) for k in PARAMS}
    cd1_step(np, *params.values(), *(inputs[k].astype(np.float64) for k in ("v", "u_h", "u_v")), LEARNING_RATE)
    return params


def numpy_builder(inputs: Arrays) -> references.Prepared:
    params = [inputs[k].copy() for k in PARAMS]
    v, u_h, u_v = inputs["v"], inputs["u_h"], inputs["u_v"]
    return references.Prepared(lambda: cd1_step(np, *params, v, u_h, u_v, np.float32(LEARNING_RATE)),
                    lambda: dict(zip(PARAMS, params, strict=True)))


def mark1_builder(inputs: Arrays) -> references.Prepared:
    import mark1 as m1
    from mark1 import rbm_ops

    params = [m1.asarray(inputs[k].copy()) for k in PARAMS]
    velocity = [m1.get_backend().zeros(p.shape, p.dtype) for p in params]
    v = m1.asarray(inputs["v"])
    m = v.shape[0]
    order = m1.asarray(np.arange(m), "int64")
    chain = m1.get_backend().zeros((m, SHAPE[1]), np.float32)

    def run():
        rbm_ops.rbm_epoch(v, order, *params, *velocity, chain, seed=SEED, first_update=0, batch_size=m, k=1,
                          persistent=False, lr=LEARNING_RATE)

    return references.Prepared(run, lambda: {k: m1.to_numpy(p) for k, p in zip(PARAMS, params, strict=True)})


RBM_STEP = Workload(
    "rbm_step", f"one CD-1 update of a {SHAPE[0]}×{SHAPE[1]} Bernoulli RBM (sampling included), float32",
    "GFLOP/s", "flop", "batch size",
    quick=(batch(100),), full=tuple(batch(n) for n in (10, 100, 1000)),
    work=flop, make_inputs=make_inputs, oracle=oracle, check=check_train,
)
SIZE_LIMIT = 2**16
