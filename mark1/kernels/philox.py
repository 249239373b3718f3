"""Philox4x32-10, the counter-based generator of Salmon, Moraes, Dror & Shaw, "Parallel random numbers: as easy
as 1, 2, 3" (SC 2011), and the NumPy reference of mark1's uniform draws.

A draw is a pure function of (seed, step, element): the key is the 64-bit seed, the 128-bit counter holds
the block number (elements // 4 for float32, // 2 for float64) and the step. Nothing is stateful, so the numpy,
numba and numba.cuda backends compute the same bits from the same formula, in any order, on any thread.

`philox4x32_10` is written once in operations that mean the same on NumPy uint64 arrays, numba uint64 scalars
and numba.cuda device code (all 32-bit words are held in uint64, so a 32x32-bit product never overflows and
its high and low halves are a shift and a mask). The CPU and CUDA kernels compile this very function.

uint32 -> float: float32 takes the top 24 bits of one word, u = (x >> 8) / 2^24; float64 takes 53 bits of
two words, u = ((x0 >> 5) * 2^26 + (x1 >> 6)) / 2^53 (NumPy's own construction). Both are exact, so every
backend rounds identically; u lies in [0, 1).
"""

from __future__ import annotations

import numpy as np

ROUNDS = 10
M0 = np.uint64(0xD2511F53)   # the Philox4x32 multipliers
M1 = np.uint64(0xCD9E8D57)
W0 = np.uint64(0x9E3779B9)   # the Weyl key increments (golden ratio, sqrt(3) - 1)
W1 = np.uint64(0xBB67AE85)
MASK32 = np.uint64(0xFFFFFFFF)
S32 = np.uint64(32)
S26 = np.uint64(26)
S8, S6, S5 = np.uint64(8), np.uint64(6), np.uint64(5)
F32_SCALE = np.float32(2.0**-24)
F64_SCALE = np.float64(2.0**-53)
WORDS_PER_ELEMENT = {"float32": 1, "float64": 2}


def philox4x32_10(c0, c1, c2, c3, k0, k1):
    """The four 32-bit output words for counter (c0..c3) and key (k0, k1), each held in a uint64.

    Round: (c0, c1, c2, c3) <- (hi(M1 c2) ^ c1 ^ k0, lo(M1 c2), hi(M0 c0) ^ c3 ^ k1, lo(M0 c0)), then the key
    is bumped by (W0, W1); ten rounds (the extra bump after the last one changes nothing that is returned).
    """
    for _ in range(ROUNDS):
        p0 = M0 * c0
        p1 = M1 * c2
        c0, c1, c2, c3 = (p1 >> S32) ^ c1 ^ k0, p1 & MASK32, (p0 >> S32) ^ c3 ^ k1, p0 & MASK32
        k0 = (k0 + W0) & MASK32
        k1 = (k1 + W1) & MASK32
    return c0, c1, c2, c3


def split64(value: int) -> tuple[np.uint64, np.uint64]:
    """A non-negative int below 2^64 as its (low, high) 32-bit words."""
    value = int(value)
    if not 0 <= value < 2**64:
        raise ValueError(f"philox: seed and step must be integers in [0, 2^64), got {value}")
    return np.uint64(value & 0xFFFFFFFF), np.uint64(value >> 32)


def keys(seed: int, step: int) -> tuple:
    """(k0, k1, s0, s1): the seed and step as the uint64-held 32-bit words the kernels take."""
    return (*split64(seed), *split64(step))


def uniform(seed: int, step: int, n: int, dtype="float32") -> np.ndarray:
    """Elements 0..n-1 of stream (seed, step) as uniforms in [0, 1): the reference every backend matches."""
    dtype = np.dtype(dtype)
    k0, k1 = split64(seed)
    s0, s1 = split64(step)
    per_block = 4 // WORDS_PER_ELEMENT[dtype.name]
    blocks = np.arange(-(-n // per_block), dtype=np.uint64)
    zeros = np.zeros_like(blocks)
    words = philox4x32_10(blocks & MASK32, blocks >> S32, zeros + s0, zeros + s1, k0, k1)
    if dtype == np.float32:
        u = np.stack(words, axis=1).reshape(-1) >> S8
        return (u.astype(np.float32) * F32_SCALE)[:n]
    x0, x1, x2, x3 = words
    hi = np.stack((x0, x2), axis=1).reshape(-1) >> S5
    lo = np.stack((x1, x3), axis=1).reshape(-1) >> S6
    return (((hi << S26) + lo).astype(np.float64) * F64_SCALE)[:n]
