"""Weight initialisation drawn on the host (NumPy PCG64) so one seed gives the same weights on every backend.

Xavier/Glorot uniform (Glorot & Bengio 2010) suits sigmoid and tanh, He normal (He et al. 2015) suits ReLU.
"""

from __future__ import annotations

import numpy as np

from mark1.rng import generator

INITS = ("xavier", "he")


def as_generator(rng: np.random.Generator | int | None) -> np.random.Generator:
    """`rng` itself, a fresh generator seeded with it, or the global one `m1.seed` controls."""
    if rng is None:
        return generator()
    if isinstance(rng, np.random.Generator):
        return rng
    if isinstance(rng, int | np.integer):
        return np.random.default_rng(int(rng))
    raise TypeError(f"rng must be a numpy Generator, an int seed or None, got {type(rng).__name__}")


def weights(fan_in: int, fan_out: int, init: str, rng: np.random.Generator | int | None) -> np.ndarray:
    """A float64 (fan_in, fan_out) host array drawn by the named scheme."""
    gen = as_generator(rng)
    if init == "xavier":
        limit = np.sqrt(6.0 / max(fan_in + fan_out, 1))
        return gen.uniform(-limit, limit, (fan_in, fan_out))
    if init == "he":
        return gen.normal(0.0, np.sqrt(2.0 / max(fan_in, 1)), (fan_in, fan_out))
    raise ValueError(f"unknown init {init!r}; valid: {', '.join(INITS)}")


def filters(shape: tuple[int, ...], init: str, rng: np.random.Generator | int | None) -> np.ndarray:
    """Convolution weights (out, in, kh, kw) as float64 on the host, with torch's fans: fan_in = in*kh*kw,
    fan_out = out*kh*kw (Xavier uniform / He normal as `weights`)."""
    gen = as_generator(rng)
    field_size = int(np.prod(shape[2:]))
    fan_in, fan_out = shape[1] * field_size, shape[0] * field_size
    if init == "xavier":
        limit = np.sqrt(6.0 / max(fan_in + fan_out, 1))
        return gen.uniform(-limit, limit, shape)
    if init == "he":
        return gen.normal(0.0, np.sqrt(2.0 / max(fan_in, 1)), shape)
    raise ValueError(f"unknown init {init!r}; valid: {', '.join(INITS)}")
