"""Packing for the GEMM (gemm.py): op(a) and op(b) copied into the contiguous, zero-padded panels the register
tile reads, from any strides.

Two tiers, so a plain matmul compiles only the plain copies: `pack_b_copy`/`pack_a_copy` move x as it is;
`pack_b_panels`/`pack_a_rows` also apply the dense backward's operand transform op(x) = x * act'(x2) (delta
formed while packing, never stored) and collect column sums (db) of op(b) in the same pass.
"""

from __future__ import annotations

import numpy as np

from mark1.kernels.cpu._intrinsics import ALIGN_PAD, aligned_view, copy_run, copy_run_padded, gather_run, unit_stride
from mark1.kernels.cpu._jit import IDENTITY, RELU, SIGMOID, TANH, jit_inline, jit_internal, typed
from mark1.kernels.cpu.expmath import activation_slope
from mark1.kernels.cpu.params import PARAMS

MR = PARAMS.mr
NR_F32, NR_F64 = PARAMS.nr_f32, PARAMS.nr_f64  # module-level ints: literal counts for gather_run


@jit_inline
def aligned_empty(shape, like):
    """np.empty(shape) of like's dtype starting on a 64-byte line, for packed panels and tile buffers that the
    micro-kernel reads or writes a register (a line) at a time (why: _intrinsics.aligned_view)."""
    size = 1
    for d in shape:
        size *= d
    return aligned_view(np.empty(size + ALIGN_PAD, like.dtype), shape)


@jit_internal
def operand(x, x2, code, i, k):
    """x[i, k], times act'(x2[i, k]) when code names an activation (the delta of a backward pass)."""
    v = x[i, k]
    if code != IDENTITY:
        v = v * activation_slope(x2[i, k], code)
    return v


@jit_internal
def pack_b_copy(b, bp, q_lo, q_hi, k_lo, k_hi):
    """Rows k_lo..k_hi of b's column panels q_lo..q_hi into bp (k_blocks, panels, kc, NR), zero-padded past
    b's last column.

    In the order b lies: with rows of unit stride, row by row across the panels (each row of b read in one
    sequential run), where panel by panel re-read every row a stride apart once per panel (a 1024 x 1024 B
    on one thread: 0.60 -> 0.30 ms, numpy's copy 0.29); a transposed b (W.T) panel by panel, each of the
    panel's columns read sequentially. Loops written out here, not through inlined helpers: those made the
    packers compile 3x slower (a first 512^2 matmul 3.5 -> 7 s on an empty cache).

    bp is K-block major, as BLIS packs a KC x NC block: the panels of one K block, which the compute step
    keeps in L2 as one chunk, are one contiguous run (panel-major put a K block's slices K x NR x 4 bytes
    apart; the measured difference stayed within this VM's noise, 2048^3 one thread 0.84-0.88 vs 0.86-0.93).
    """
    kc_max, nr = bp.shape[2], bp.shape[3]
    cols = b.shape[1]
    if b.strides[1] == b.itemsize:
        kb, p = k_lo // kc_max, k_lo % kc_max
        for k in range(k_lo, k_hi):
            for q in range(q_lo, q_hi):
                c0 = q * nr
                width = min(nr, cols - c0)
                dst = bp[kb, q, p]
                src = unit_stride(b[k, c0:c0 + width])  # typed contiguous: LLVM vectorises the loop as such
                # one vector copy per panel row, no loop: a full-width row as one NR-wide run, a narrow-N or
                # cut one (b's last columns) as a masked load and store (W 784x128: 14.3 -> 11.3 us)
                if width == NR_F32 and bp.itemsize == 4:
                    copy_run(dst, src, NR_F32)
                elif width == NR_F64 and bp.itemsize == 8:
                    copy_run(dst, src, NR_F64)
                else:
                    copy_run_padded(dst, src, width, nr)
            p += 1
            if p == kc_max:
                kb, p = kb + 1, 0
        return
    full = nr == (NR_F32 if bp.itemsize == 4 else NR_F64)  # a full-width panel (not the narrow-N half)
    for q in range(q_lo, q_hi):
        c0 = q * nr
        width = min(nr, cols - c0)
        for k in range(k_lo, k_hi):
            dst = bp[k // kc_max, q, k % kc_max]
            if full and width == nr:  # one vector gather down the NR columns (rows of W), not NR scalar loads
                if bp.itemsize == 4:
                    gather_run(dst, b, k, c0, NR_F32)
                else:
                    gather_run(dst, b, k, c0, NR_F64)
                continue
            for j in range(width):
                dst[j] = b[k, c0 + j]
            for j in range(width, nr):
                dst[j] = 0


@jit_internal
def pack_b_panels(b, b2, b_code, bp, q_lo, q_hi, k_lo, k_hi, sums):
    """pack_b_copy of op(b) = b * act'(b2) (the dense backward's delta, formed while packing); sums (b's
    width, or empty) = the column sums of the rows packed, in the same loop. b and b2 have rows of unit
    stride (dense.gemm copies any other layout first: one packer less to compile for a first fit).

    Rows of unit stride go row by row (the dense backward's dy, 16384 x 128, with column sums, one thread:
    2.24 -> 0.93 ms), the derivative chosen by selects in one loop: per-activation branches, or the sums in a
    loop of their own, kept LLVM from vectorising the transform (1.8-2.9 ms)."""
    if b_code == IDENTITY and sums.size == 0:
        pack_b_copy(b, bp, q_lo, q_hi, k_lo, k_hi)
        return
    for j in range(sums.size):
        sums[j] = 0
    kc_max, nr = bp.shape[2], bp.shape[3]
    cols = b.shape[1]
    one = typed(bp[0, 0, 0, 0], 1)
    zero = typed(bp[0, 0, 0, 0], 0)
    sig, tanh, relu = b_code == SIGMOID, b_code == TANH, b_code == RELU
    kb, p = k_lo // kc_max, k_lo % kc_max
    for k in range(k_lo, k_hi):
        for q in range(q_lo, q_hi):
            c0 = q * nr
            width = min(nr, cols - c0)
            dst = bp[kb, q, p]
            src = unit_stride(b[k, c0:c0 + width])
            ys = unit_stride(b2[k, c0:c0 + width])
            if sums.size:
                part = unit_stride(sums[c0:c0 + width])
                for j in range(width):
                    y = ys[j]
                    v = src[j] * (y * (one - y) if sig else (one - y * y) if tanh
                                  else (one if y > zero else zero) if relu else one)
                    dst[j] = v
                    part[j] += v
            else:
                for j in range(width):
                    y = ys[j]
                    dst[j] = src[j] * (y * (one - y) if sig else (one - y * y) if tanh
                                       else (one if y > zero else zero) if relu else one)
            for j in range(width, nr):
                dst[j] = 0
        p += 1
        if p == kc_max:
            kb, p = kb + 1, 0


@jit_inline
def pack_chunks(depth):
    """How many row ranges a parallel packing of op(b) splits K into: 64 rows at least, 16 at most. Not a
    function of the thread count, so the column sums (one partial sum per chunk, added in chunk order) come
    out bit for bit the same on any number of threads."""
    return max(1, min(16, depth // 64))


@jit_inline
def chunk_rows(chunk, chunks, depth):
    """Rows [lo, hi) of chunk `chunk` of `chunks`. Callers pass a whole range as chunk_rows(0, 1, n), not
    (0, n): a literal 0 argument makes numba compile the packers once more for Literal[int](0) (a first
    512^2 matmul compiled pack_b_copy twice, 0.25 s)."""
    return chunk * depth // chunks, (chunk + 1) * depth // chunks


@jit_inline
def add_partial_sums(colsum, partial):
    """colsum += the column sums each chunk of rows collected (partial: chunks x colsum.size)."""
    for c in range(partial.shape[0]):
        for j in range(colsum.size):
            colsum[j] += partial[c, j]


@jit_internal
def pack_a_copy(a, ap, first_panel, k0, kc):
    """Row panels first_panel.. of a[:, k0:k0+kc] into ap (panels x kc x MR, zero-padded rows).

    k outermost: each step writes MR adjacent panel elements instead of MR stride-MR passes; for a = x.T
    (every dw = x.T @ delta) it also reads MR adjacent elements of a row of x instead of striding down its
    columns. Measured faster for both layouts (1 thread).
    """
    rows = a.shape[0]
    mr = ap.shape[2]
    for local in range(ap.shape[0]):
        panel = ap[local]
        r0 = (first_panel + local) * mr
        height = min(mr, rows - r0)
        if height == MR:  # constant trip count: unrolled
            for p in range(kc):
                dst = panel[p]
                for i in range(MR):
                    dst[i] = a[r0 + i, k0 + p]
            continue
        # a partial panel (the last rows of op(a)): per k one masked load where its elements lie together
        # (a = x.T), else zeros and then a's rows one by one; the loops over `height` per k, as for a full
        # panel, took 1.9 us for 4 rows x 256 where a full panel takes 0.85 (64x256x10: 3 us of 9)
        if a.strides[0] == a.itemsize:
            for p in range(kc):
                copy_run_padded(panel[p], unit_stride(a[r0:r0 + height, k0 + p]), height, MR)
            continue
        panel[:kc] = 0
        for i in range(height):
            src = a[r0 + i, k0:k0 + kc]
            for p in range(kc):
                panel[p, i] = src[p]


@jit_internal
def pack_a_panels(a, ap, first_panel, k0, kc):
    """pack_a_copy for any number of panels: a transposed a (unit stride down its columns) goes through
    _pack_a_transposed. Separate from pack_a_copy, which the in-place variants use for their one partial
    panel, so those do not compile the transposed pass (0.14 s of a first fit on an empty cache)."""
    if a.strides[0] == a.itemsize and ap.shape[0] > 1:
        _pack_a_transposed(a, ap, first_panel, k0, kc)
    else:
        pack_a_copy(a, ap, first_panel, k0, kc)


@jit_internal
def _pack_a_transposed(a, ap, first_panel, k0, kc):
    """pack_a_copy for a unit stride down a's columns (a = x.T): one pass along each row of x.

    Panel by panel, each panel read MR floats from each of kc rows of x (a 784-wide x: 3 KiB apart), all
    kc rows again for every panel. Here each row of x is read once, contiguously, into every panel's slot
    for that k: x.T @ g, 784 x 16384 . 16384 x 128 on two threads, 12.9 -> 11.7 ms (4096: 3.14 -> 2.90).
    """
    rows = a.shape[0]
    mr = ap.shape[2]
    panels = ap.shape[0]
    r_first = first_panel * mr
    full = min(panels, (rows - r_first) // mr)  # panels with all MR rows inside a
    for p in range(kc):
        src = a[r_first:, k0 + p]  # contiguous: the row k0 + p of x
        for local in range(full):
            copy_run(ap[local, p], src[local * MR:], MR)  # one vector move (numba's scalar copies: 1.9x slower)
        for local in range(full, panels):  # the partial last panel: one masked copy, zeros past a's rows
            r = local * mr
            height = max(0, min(mr, rows - r_first - r))
            copy_run_padded(ap[local, p], unit_stride(src[r:r + height]), height, mr)


@jit_internal
def pack_a_rows(a, a2, a_code, ap, first_panel, k0, kc):
    """pack_a_panels of op(a): the transform applied row by row (contiguous reads of dy and y)."""
    if a_code == IDENTITY:
        pack_a_panels(a, ap, first_panel, k0, kc)
        return
    rows = a.shape[0]
    mr = ap.shape[2]
    for local in range(ap.shape[0]):
        panel = ap[local]
        r0 = (first_panel + local) * mr
        for i in range(mr):
            r = r0 + i
            if r >= rows:
                for p in range(kc):
                    panel[p, i] = 0
            elif a_code == SIGMOID:  # delta = dy * y(1-y) without the per-element activation branches
                src = a[r, k0:k0 + kc]
                ys = a2[r, k0:k0 + kc]
                for p in range(kc):
                    panel[p, i] = src[p] * (ys[p] * (typed(ys[p], 1) - ys[p]))
            else:
                for p in range(kc):
                    panel[p, i] = operand(a, a2, a_code, r, k0 + p)
