"""Packing for the GEMM (gemm.py): op(a) and op(b) copied into the contiguous, zero-padded panels the register
tile reads, from any strides.

Two tiers, so a plain matmul compiles only the plain copies: `pack_b_copy`/`pack_a_copy` move x as it is;
`pack_b_panels`/`pack_a_rows` also apply the dense backward's operand transform op(x) = x * act'(x2) (delta
formed while packing, never stored) and collect column sums (db) of op(b) in the same pass.
"""

from __future__ import annotations

from mark1.kernels.cpu._intrinsics import copy_run, unit_stride
from mark1.kernels.cpu._jit import IDENTITY, RELU, SIGMOID, TANH, jit, jit_inline, typed
from mark1.kernels.cpu.expmath import activation_slope
from mark1.kernels.cpu.params import PARAMS

MR = PARAMS.mr


@jit
def operand(x, x2, code, i, k):
    """x[i, k], times act'(x2[i, k]) when code names an activation (the delta of a backward pass)."""
    v = x[i, k]
    if code != IDENTITY:
        v = v * activation_slope(x2[i, k], code)
    return v


@jit_inline
def _transform_run(dst, src, ys, sums, width, code):
    """dst[:width] = src * act'(ys) for the activation `code` (a constant at each call site, so every call
    compiles one branch-free loop), sums += the same values when sums is non-empty."""
    if sums.size:
        part = unit_stride(sums)
        for j in range(width):
            v = src[j] * activation_slope(ys[j], code)
            dst[j] = v
            part[j] += v
    else:
        for j in range(width):
            dst[j] = src[j] * activation_slope(ys[j], code)


@jit_inline
def _b_piece(b, b2, b_code, bp, kb, q, p, k, sums, fused):
    """Row k of op(b)'s panel q into bp[kb, q, p] (zero-padded past b's last column), b and b2 with unit
    stride along their rows; with sums non-empty, sums[c] += each value packed. `fused` is a constant per
    caller: the plain copy compiles no transform.

    The rows are typed contiguous (unit_stride): over 'A'-layout views LLVM left the fused loops scalar. And
    one loop per case, the column sums inside it: a separate sums loop after the transform, even when never
    run, kept LLVM from vectorising the transform (16384 x 128, delta and sums, one thread: 1.8 vs 0.9 ms).
    """
    nr = bp.shape[3]
    c0 = q * nr
    width = min(nr, b.shape[1] - c0)
    dst = bp[kb, q, p]
    src = unit_stride(b[k, c0:c0 + width])
    part = sums[c0:c0 + width] if fused and sums.size else sums[:0]
    if not fused:
        for j in range(width):
            dst[j] = src[j]
    else:  # op(b) = b * act'(b2) (the dense backward's delta); b2 is b itself for IDENTITY
        ys = unit_stride(b2[k, c0:c0 + width])
        if b_code == SIGMOID:
            _transform_run(dst, src, ys, part, width, SIGMOID)
        elif b_code == TANH:
            _transform_run(dst, src, ys, part, width, TANH)
        elif b_code == RELU:
            _transform_run(dst, src, ys, part, width, RELU)
        else:
            _transform_run(dst, src, ys, part, width, IDENTITY)
    for j in range(width, nr):
        dst[j] = 0


@jit_inline
def _b_piece_strided(b, b2, b_code, bp, kb, q, p, k, sums, fused):
    """_b_piece for any strides (b = W.T: unit stride down its columns), element by element."""
    nr = bp.shape[3]
    c0 = q * nr
    width = min(nr, b.shape[1] - c0)
    for j in range(nr):
        v = typed(bp[0, 0, 0, 0], 0)
        if j < width:
            v = operand(b, b2, b_code, k, c0 + j) if fused else b[k, c0 + j]
            if fused and sums.size:
                sums[c0 + j] += v
        bp[kb, q, p, j] = v


@jit_inline
def _pack_b(b, b2, b_code, bp, q_lo, q_hi, k_lo, k_hi, sums, fused):
    """Rows k_lo..k_hi of panels q_lo..q_hi of op(b) into bp (k_blocks, panels, kc, NR), K-block major.

    In the order b lies: with rows of unit stride, row by row across all the panels (each row of b read in
    one sequential run); panel by panel, which re-read every row a stride apart once per panel, took 2.2x as
    long for the dense backward's dy (16384 x 128, delta and column sums: 2.24 -> 0.92 ms on one thread) and
    2x for a plain 1024 x 1024 B (0.60 -> 0.29 ms, numpy's copy 0.29). A transposed b (b = W.T, unit stride
    down its columns) goes panel by panel, where each of the panel's NR columns is read sequentially.

    bp is K-block major, as BLIS packs a KC x NC block: the panels of one K block, which the compute step
    keeps in L2 as one chunk, are one contiguous run (panel-major put a K block's slices K x NR x 4 bytes
    apart; the measured difference stayed within this VM's noise, 2048^3 one thread 0.84-0.88 vs 0.86-0.93).
    """
    kc_max = bp.shape[2]
    if b.strides[1] == b.itemsize and b2.strides[1] == b2.itemsize:
        kb, p = k_lo // kc_max, k_lo % kc_max
        for k in range(k_lo, k_hi):
            for q in range(q_lo, q_hi):
                _b_piece(b, b2, b_code, bp, kb, q, p, k, sums, fused)
            p += 1
            if p == kc_max:
                kb, p = kb + 1, 0
    else:
        for q in range(q_lo, q_hi):
            for k in range(k_lo, k_hi):
                _b_piece_strided(b, b2, b_code, bp, k // kc_max, q, k % kc_max, k, sums, fused)


@jit
def pack_b_copy(b, bp, q_lo, q_hi, k_lo, k_hi):
    """Rows k_lo..k_hi of b's column panels q_lo..q_hi into bp (zero-padded columns): the plain variants'."""
    _pack_b(b, b, IDENTITY, bp, q_lo, q_hi, k_lo, k_hi, bp[0, 0, 0, :0], False)


@jit
def pack_b_panels(b, b2, b_code, bp, q_lo, q_hi, k_lo, k_hi, sums):
    """pack_b_copy of op(b); sums (b's width, or empty) += the column sums of the rows packed."""
    _pack_b(b, b2, b_code, bp, q_lo, q_hi, k_lo, k_hi, sums, True)


@jit_inline
def pack_chunks(depth, threads):
    """How many row ranges a parallel packing of op(b) splits K into: a few per thread, 32 rows at least."""
    return max(1, min(4 * threads, depth // 32))


@jit_inline
def chunk_rows(chunk, chunks, depth):
    return chunk * depth // chunks, (chunk + 1) * depth // chunks


@jit_inline
def add_partial_sums(colsum, partial):
    """colsum += the column sums each chunk of rows collected (partial: chunks x colsum.size)."""
    for c in range(partial.shape[0]):
        for j in range(colsum.size):
            colsum[j] += partial[c, j]


@jit
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
        for p in range(kc):
            dst = panel[p]
            for i in range(height):
                dst[i] = a[r0 + i, k0 + p]
            for i in range(height, mr):
                dst[i] = 0


@jit
def pack_a_panels(a, ap, first_panel, k0, kc):
    """pack_a_copy for any number of panels: a transposed a (unit stride down its columns) goes through
    _pack_a_transposed. Separate from pack_a_copy, which the in-place variants use for their one partial
    panel, so those do not compile the transposed pass (0.14 s of a first fit on an empty cache)."""
    if a.strides[0] == a.itemsize and ap.shape[0] > 1:
        _pack_a_transposed(a, ap, first_panel, k0, kc)
    else:
        pack_a_copy(a, ap, first_panel, k0, kc)


@jit
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
        for local in range(full, panels):
            dst = ap[local, p]
            for i in range(mr):
                r = local * mr + i
                dst[i] = src[r] if r_first + r < rows else 0


@jit
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
