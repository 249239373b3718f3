"""Philox4x32-10 uniforms and Bernoulli samples in numba: the very function of kernels/philox.py, compiled.

Element e of stream (seed, step) comes from counter block e // 4 (float32: one word each) or e // 2 (float64:
two words each), exactly as the NumPy reference lays them out, so the bits match it. Loops run over whole
blocks: one Philox evaluation serves four float32 draws, and the straight-line rounds vectorise across blocks.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange, uint64

from mark1.kernels import philox as reference
from mark1.kernels.cpu._jit import JIT, jit_inline
from mark1.kernels.philox import F32_SCALE, F64_SCALE, MASK32, S5, S6, S8, S26, S32, keys

philox4x32_10 = jit_inline(reference.philox4x32_10)
BLOCKS_PER_TASK = 1024  # Philox blocks per parallel task: 4096 float32 draws


@jit_inline
def block_words(block, k0, k1, s0, s1):
    b = uint64(block)
    return philox4x32_10(b & MASK32, b >> S32, s0, s1, k0, k1)


@jit_inline
def _put(out, e, u, prob, compare):
    if compare:
        out[e] = 1.0 if u < prob[e] else 0.0
    else:
        out[e] = u


@jit_inline
def draw_block(prob, out, e, block, k0, k1, s0, s1, compare):
    """The draws of counter block `block` into out[e:e + 4] (float32) or out[e:e + 2] (float64), 1-D.

    Written out element by element (no indexing of the word tuple by a variable) so the loop over blocks
    vectorises: about 2.5 ns per block of four float32 draws on one AVX2 core.
    """
    x0, x1, x2, x3 = block_words(block, k0, k1, s0, s1)
    if isinstance(out[0], np.float32):
        _put(out, e, np.float32(x0 >> S8) * F32_SCALE, prob, compare)
        _put(out, e + 1, np.float32(x1 >> S8) * F32_SCALE, prob, compare)
        _put(out, e + 2, np.float32(x2 >> S8) * F32_SCALE, prob, compare)
        _put(out, e + 3, np.float32(x3 >> S8) * F32_SCALE, prob, compare)
    else:
        _put(out, e, np.float64(((x0 >> S5) << S26) + (x1 >> S6)) * F64_SCALE, prob, compare)
        _put(out, e + 1, np.float64(((x2 >> S5) << S26) + (x3 >> S6)) * F64_SCALE, prob, compare)


@jit_inline
def per_block(like):
    return 4 if isinstance(like, np.float32) else 2


@jit_inline
def draw_span(prob, out, lo, hi, k0, k1, s0, s1, compare):
    """out[e] for e in [lo, hi), lo a multiple of the block size: the uniform itself, or (compare) the
    Bernoulli sample 1.0 where the uniform is below prob[e], else 0.0. 1-D arrays; hi <= out.size."""
    per = per_block(out[0])
    full = hi // per
    for block in range(lo // per, full):
        draw_block(prob, out, block * per, block, k0, k1, s0, s1, compare)
    if full * per < hi:  # a partial last block: draw it whole into scratch, keep the part that fits
        scratch = np.zeros(per, out.dtype)
        scratch_prob = np.zeros(per, out.dtype)
        for j in range(hi - full * per):
            scratch_prob[j] = prob[full * per + j]
        draw_block(scratch_prob, scratch, 0, full, k0, k1, s0, s1, compare)
        for j in range(hi - full * per):
            out[full * per + j] = scratch[j]


@jit_inline
def draw_spans(prob, out, n, k0, k1, s0, s1, compare):
    """draw_span over out[:n] in spans of BLOCKS_PER_TASK Philox blocks, a prange: parallel in a parallel
    caller (here, and the RBM epoch kernel's sampling), a plain loop in a serial one."""
    span = BLOCKS_PER_TASK * per_block(out[0])
    for task in prange((n + span - 1) // span):
        draw_span(prob, out, task * span, min(n, (task + 1) * span), k0, k1, s0, s1, compare)


@njit(**JIT, parallel=True)
def _draw(prob, out, k0, k1, s0, s1, compare):
    draw_spans(prob, out, out.size, k0, k1, s0, s1, compare)


@njit(**JIT)
def _draw_serial(prob, out, k0, k1, s0, s1, compare):
    draw_span(prob, out, 0, out.size, k0, k1, s0, s1, compare)


def _run(prob, out, seed, step, compare: bool) -> None:
    """One task's worth or less runs on the calling thread: waking the pool costs more than it draws."""
    kernel = _draw_serial if out.size <= BLOCKS_PER_TASK * 4 else _draw
    kernel(prob, out, *keys(seed, step), compare)


def philox_uniform(seed, step, out):
    flat = out.reshape(-1)
    _run(flat, flat, seed, step, False)


def bernoulli(prob, seed, step, sample):
    _run(np.ascontiguousarray(prob).reshape(-1), sample.reshape(-1), seed, step, True)
