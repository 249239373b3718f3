"""Ops for energy-based models: Philox draws, Bernoulli sampling fused with the sigmoid, the CD update, free energy
and the exact pseudo-likelihood (formulas in kernels/reference_rbm.py; the generator in kernels/philox.py).

Same pattern as ops.py: check everything, allocate outputs, settle empty cases, then call the backend's kernel.
A draw is a pure function of (seed, step, flat element index), so every backend draws the same bits.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from mark1.backends.registry import get_backend
from mark1.checks import check_float, check_owned, check_same_shape
from mark1.kernels.philox import split64

Array = Any


def _check_key(op: str, seed: int, step: int) -> None:
    for name, value in (("seed", seed), ("step", step)):
        if not isinstance(value, int | np.integer) or isinstance(value, bool):
            raise TypeError(f"{op}: {name} must be an int, got {type(value).__name__}")
        try:
            split64(value)
        except ValueError:
            raise ValueError(f"{op}: {name}={value} is outside [0, 2^64)") from None


def _check_rbm(op: str, v: Array, w: Array, vbias: Array, hbias: Array) -> None:
    if v.ndim != 2 or w.ndim != 2 or vbias.shape != (w.shape[0],) or hbias.shape != (w.shape[1],) \
            or v.shape[1] != w.shape[0]:
        raise ValueError(f"{op}: v.shape={v.shape}, w.shape={w.shape}, vbias.shape={vbias.shape}, "
                         f"hbias.shape={hbias.shape} do not fit (need v (m, n_visible), w (n_visible, n_hidden), "
                         "vbias (n_visible,), hbias (n_hidden,))")


def philox_uniform(shape: tuple[int, ...] | int, seed: int, step: int = 0, dtype: str = "float32") -> Array:
    """Uniforms in [0, 1) from Philox4x32-10 keyed by (seed, step, flat index), on the current backend."""
    be = get_backend()
    _check_key("philox_uniform", seed, step)
    dtype = np.dtype(dtype)
    if dtype.char not in "fd":
        raise TypeError(f"philox_uniform: dtype {dtype} is not supported; use float32 or float64")
    out = be.empty((shape,) if isinstance(shape, int) else tuple(shape), dtype)
    if out.size:
        be.ops["philox_uniform"](int(seed), int(step), out)
    return out


def bernoulli(prob: Array, seed: int, step: int = 0) -> Array:
    """1 where the Philox uniform of (seed, step, flat index) is below prob, else 0 (prob's shape and dtype)."""
    be = get_backend()
    dtype = check_float(be, "bernoulli", prob=prob)
    _check_key("bernoulli", seed, step)
    sample = be.empty(prob.shape, dtype)
    if sample.size:
        be.ops["bernoulli"](prob, int(seed), int(step), sample)
    return sample


def sigmoid_bernoulli(x: Array, w: Array, bias: Array, seed: int, step: int = 0) -> tuple[Array, Array]:
    """(prob, sample): prob = σ(x @ w + bias) and its Bernoulli sample, the RBM's conditional in one op."""
    be = get_backend()
    dtype = check_float(be, "sigmoid_bernoulli", x=x, w=w, bias=bias)
    _check_key("sigmoid_bernoulli", seed, step)
    if x.ndim != 2 or w.ndim != 2 or bias.shape != (w.shape[1],) or x.shape[1] != w.shape[0]:
        raise ValueError(f"sigmoid_bernoulli: x.shape={x.shape}, w.shape={w.shape}, bias.shape={bias.shape} do "
                         "not fit (need x (m, in), w (in, out), bias (out,))")
    prob = be.empty((x.shape[0], w.shape[1]), dtype)
    sample = be.empty(prob.shape, dtype)
    if prob.size:
        if x.shape[1] == 0:  # no inputs: σ(bias) row by row
            x, w = be.zeros((x.shape[0], 1), dtype), be.zeros((1, w.shape[1]), dtype)
        be.ops["sigmoid_bernoulli"](x, w, bias, int(seed), int(step), prob, sample)
    return prob, sample


def cd_update(w: Array, vbias: Array, hbias: Array, v0: Array, h0: Array, vk: Array, hk: Array, dw: Array,
              dvb: Array, dhb: Array, lr: float, momentum: float = 0.0, weight_decay: float = 0.0) -> None:
    """In place: Δ = momentum·Δ + lr·((v0ᵀh0 - vkᵀhk)/m - weight_decay·W), W += Δ; biases from the column means
    of v0 - vk and h0 - hk (no decay). Positive minus negative statistics, momentum and decay in one op."""
    be = get_backend()
    check_float(be, "cd_update", w=w, vbias=vbias, hbias=hbias, v0=v0, h0=h0, vk=vk, hk=hk, dw=dw, dvb=dvb, dhb=dhb)
    check_same_shape("cd_update", v0=v0, vk=vk)
    check_same_shape("cd_update", h0=h0, hk=hk)
    check_same_shape("cd_update", w=w, dw=dw)
    _check_rbm("cd_update", v0, w, vbias, hbias)
    if h0.shape != (v0.shape[0], w.shape[1]) or dvb.shape != vbias.shape or dhb.shape != hbias.shape:
        raise ValueError(f"cd_update: h0.shape={h0.shape}, dvb.shape={dvb.shape}, dhb.shape={dhb.shape} do not "
                         f"fit v0.shape={v0.shape} and w.shape={w.shape}")
    for name, x in (("w", w), ("vbias", vbias), ("hbias", hbias), ("dw", dw), ("dvb", dvb), ("dhb", dhb)):
        if not x.flags.c_contiguous:
            raise ValueError(f"cd_update: {name} is updated in place and must be C-contiguous")
    if v0.shape[0] == 0:
        raise ValueError("cd_update: empty batch (v0 has no rows); an update needs at least one sample")
    be.ops["cd_update"](w, vbias, hbias, v0, h0, vk, hk, dw, dvb, dhb, float(lr), float(momentum),
                        float(weight_decay))


def _per_row(op: str, v: Array, w: Array, vbias: Array, hbias: Array) -> Array:
    be = get_backend()
    dtype = check_float(be, op, v=v, w=w, vbias=vbias, hbias=hbias)
    _check_rbm(op, v, w, vbias, hbias)
    if 0 in w.shape:
        raise ValueError(f"{op}: w.shape={w.shape}; an RBM needs at least one visible and one hidden unit")
    out = be.empty((v.shape[0],), dtype)
    if out.size:
        be.ops[op](v, w, vbias, hbias, out)
    return out


def free_energy(v: Array, w: Array, vbias: Array, hbias: Array) -> Array:
    """F(v) = -v·b - Σ_j softplus((vW + c)_j) per row (a stable softplus: no overflow for any pre-activation)."""
    return _per_row("free_energy", v, w, vbias, hbias)


def pseudo_likelihood(v: Array, w: Array, vbias: Array, hbias: Array) -> Array:
    """Σ_i log P(v_i | v_-i) = Σ_i log σ(F(v with bit i flipped) - F(v)) per row, exactly over every bit."""
    return _per_row("pseudo_likelihood", v, w, vbias, hbias)


def rbm_epoch(x: Array, order: Array, w: Array, vbias: Array, hbias: Array, dw: Array, dvb: Array, dhb: Array,
              chain: Array, seed: int, first_update: int, batch_size: int, k: int = 1, persistent: bool = True,
              lr: float = 0.1, momentum: float = 0.0, weight_decay: float = 0.0) -> None:
    """Every CD-k (PCD-k if persistent) update of one epoch over x[order] in batches of batch_size, in place.

    Update number first_update + i draws from Philox steps (first_update + i)·(1 + 2k) + j (see
    kernels/reference_rbm.rbm_epoch), so splitting training into epochs, or across backends, changes no draw.
    """
    be = get_backend()
    check_float(be, "rbm_epoch", x=x, w=w, vbias=vbias, hbias=hbias, dw=dw, dvb=dvb, dhb=dhb, chain=chain)
    check_owned(be, "rbm_epoch", order=order)
    _check_key("rbm_epoch", seed, first_update)
    _check_rbm("rbm_epoch", x, w, vbias, hbias)
    if order.ndim != 1 or order.dtype.kind != "i" or order.dtype.itemsize != 8:
        raise TypeError(f"rbm_epoch: order must be 1-D int64 row indices, got {order.dtype} {order.shape}")
    if not (isinstance(batch_size, int) and batch_size >= 1 and isinstance(k, int) and k >= 1):
        raise ValueError(f"rbm_epoch: batch_size and k must be positive ints, got {batch_size!r} and {k!r}")
    if chain.shape != (batch_size, w.shape[1]):
        raise ValueError(f"rbm_epoch: chain.shape={chain.shape}; expected (batch_size, n_hidden) = "
                         f"{(batch_size, w.shape[1])}")
    check_same_shape("rbm_epoch", w=w, dw=dw)
    if dvb.shape != vbias.shape or dhb.shape != hbias.shape:
        raise ValueError(f"rbm_epoch: dvb.shape={dvb.shape}, dhb.shape={dhb.shape} must match the biases")
    if order.size and w.size:
        be.ops["rbm_epoch"](x, order, w, vbias, hbias, dw, dvb, dhb, chain, int(seed), int(first_update),
                            batch_size, k, bool(persistent), float(lr), float(momentum), float(weight_decay))
