"""numba.cuda tiled GEMM with register tiling: out = act(a @ b + bias), any M, N, K, any strides.

numba-cuda has no tensor-core (WMMA/MMA) API, so this is a SIMT kernel: it cannot reach the tensor-core
TF32 rate, and its ceiling is the fp32 FMA rate. Each block computes a BM x BN tile of `out`, staging
BK-wide slices of a and b through shared memory; each thread keeps a TM x TN tile of accumulators in
registers, so every shared-memory load feeds TM (or TN) FMAs instead of one. The next slice is read from
global memory into registers before the current one is multiplied, so its latency hides behind the FMAs.

Thread (ty, tx) owns rows ty + i*TY and columns tx + j*TX (interleaved, not blocked): neighbouring
threads then read neighbouring shared-memory words (no bank conflicts) and write neighbouring columns
of `out` (coalesced stores).

Transposed inputs are handled by indexing: a and b are strided views (layout 'A'), and the flags
`a_k_contig` / `b_k_contig` say which dimension is contiguous so the tile loads walk along it
(coalesced) instead of copying the input.

Split-K: block z multiplies k in [z*k_split, (z+1)*k_split) and writes rows z*M .. z*M+M-1 of `out`, which
then holds gridDim.z stacked partial products (summed by stacked_sum.py); with one split, k_split = K.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from numba import cuda

from mark1.kernels.cuda.activations import device_functions
from mark1.kernels.cuda.dtypes import numba_type
from mark1.kernels.cuda.launch import SIMULATOR, gemm_grid

# The load helpers must inline so the register arrays they fill stay registers (the simulator lacks the option).
_inline_device = cuda.jit(device=True) if SIMULATOR else cuda.jit(device=True, forceinline=True)


@dataclass(frozen=True)
class Tiling:
    """Block tile BM x BN x BK and per-thread register tile TM x TN; threads = (BM/TM) * (BN/TN).

    Limits: BM % TM == BN % TN == 0, and BM*BK and BK*BN divisible by the thread count (equal-share loads).
    """

    bm: int
    bn: int
    bk: int
    tm: int
    tn: int

    @property
    def threads(self) -> int:
        return (self.bm // self.tm) * (self.bn // self.tn)


# GPU, float32: 128x128 tiles, 8x8 per thread, 256 threads, 2 x 4 KiB of shared memory; 184 registers, no
# local memory (the compile test checks). float64 halves the register tile: 8x8 doubles exceed 255 registers.
GPU_TILING = Tiling(bm=128, bn=128, bk=8, tm=8, tn=8)
GPU_TILING_F64 = Tiling(bm=64, bn=64, bk=8, tm=4, tn=4)
# Simulator: one OS thread per CUDA thread (each costs ~0.5 ms to start), so 4 threads of 4x4 each.
SIM_TILING = Tiling(bm=8, bn=8, bk=8, tm=4, tn=4)
TILINGS = {name: SIM_TILING if SIMULATOR else tiling
           for name, tiling in (("float32", GPU_TILING), ("float64", GPU_TILING_F64))}


def _make_kernel(dtype, act, has_bias: bool, t: Tiling):
    zero = dtype(0)
    BM, BN, BK, TM, TN = t.bm, t.bn, t.bk, t.tm, t.tn
    TX = BN // TN  # threads along a row of the tile
    TY = BM // TM
    THREADS = t.threads
    LOADS_A = BM * BK // THREADS
    LOADS_B = BK * BN // THREADS
    # +1 column on the shared tiles: the transposed stores (k varies fastest across threads) then hit
    # different banks. Shapes of shared arrays must be compile-time constants, hence names, not `BM + 1`.
    A_ROW = BM + 1
    B_ROW = BN + 1

    @_inline_device
    def a_slot(e, a_k_contig):
        """(k, m) of a's element number e in the slice: consecutive threads walk a's contiguous dimension."""
        if a_k_contig:
            return e % BK, e // BK
        return e // BM, e % BM

    @_inline_device
    def b_slot(e, b_k_contig):
        if b_k_contig:
            return e % BK, e // BK
        return e // BN, e % BN

    @_inline_device
    def fetch(a, b, a_next, b_next, tid, row0, col0, k0, k_end, a_k_contig, b_k_contig):
        """Read the slice starting at k0 from global memory into registers (zeros past the edges)."""
        M = a.shape[0]
        N = b.shape[1]
        for load in range(LOADS_A):
            kk, mm = a_slot(tid + load * THREADS, a_k_contig)
            gm = row0 + mm
            gk = k0 + kk
            a_next[load] = a[gm, gk] if gm < M and gk < k_end else zero
        for load in range(LOADS_B):
            kk, nn = b_slot(tid + load * THREADS, b_k_contig)
            gk = k0 + kk
            gn = col0 + nn
            b_next[load] = b[gk, gn] if gk < k_end and gn < N else zero

    def gemm(a, b, bias, out, a_k_contig, b_k_contig, k_split):
        M, K = a.shape
        N = b.shape[1]
        k_begin = cuda.blockIdx.z * k_split
        k_end = min(K, k_begin + k_split)
        out_row0 = cuda.blockIdx.z * M
        tid = cuda.threadIdx.x
        tx = tid % TX
        ty = tid // TX
        col_tiles = (N + BN - 1) // BN  # tiles are numbered along grid.x (launch.gemm_grid)
        row0 = (cuda.blockIdx.x // col_tiles) * BM
        col0 = (cuda.blockIdx.x % col_tiles) * BN

        a_tile = cuda.shared.array((BK, A_ROW), dtype)  # a's slice, stored k-major: a_tile[k, m]
        b_tile = cuda.shared.array((BK, B_ROW), dtype)
        acc = cuda.local.array((TM, TN), dtype)
        a_reg = cuda.local.array(TM, dtype)
        b_reg = cuda.local.array(TN, dtype)
        a_next = cuda.local.array(LOADS_A, dtype)  # the next slice, in registers while this one is multiplied
        b_next = cuda.local.array(LOADS_B, dtype)
        for i in range(TM):
            for j in range(TN):
                acc[i, j] = zero

        fetch(a, b, a_next, b_next, tid, row0, col0, k_begin, k_end, a_k_contig, b_k_contig)
        for k0 in range(k_begin, k_end, BK):
            for load in range(LOADS_A):
                kk, mm = a_slot(tid + load * THREADS, a_k_contig)
                a_tile[kk, mm] = a_next[load]
            for load in range(LOADS_B):
                kk, nn = b_slot(tid + load * THREADS, b_k_contig)
                b_tile[kk, nn] = b_next[load]
            cuda.syncthreads()  # the slice is staged before any thread multiplies it
            if k0 + BK < k_end:  # issue the next slice's global loads now: they land while we compute
                fetch(a, b, a_next, b_next, tid, row0, col0, k0 + BK, k_end, a_k_contig, b_k_contig)

            for kk in range(BK):
                for i in range(TM):
                    a_reg[i] = a_tile[kk, ty + i * TY]
                for j in range(TN):
                    b_reg[j] = b_tile[kk, tx + j * TX]
                for i in range(TM):
                    for j in range(TN):
                        acc[i, j] += a_reg[i] * b_reg[j]
            cuda.syncthreads()  # every thread done reading before the next staging overwrites the tiles

        if has_bias:  # a pass of its own: one loop nest with bias and activation is too big for LLVM to
            for j in range(TN):  # unroll fully, and a rolled loop indexes acc dynamically: local memory
                c = col0 + tx + j * TX
                bj = bias[c] if c < N else zero
                for i in range(TM):
                    acc[i, j] += bj
        for i in range(TM):
            r = row0 + ty + i * TY
            if r < M:
                for j in range(TN):
                    c = col0 + tx + j * TX
                    if c < N:
                        out[out_row0 + r, c] = act(acc[i, j])

    return gemm


@cache
def build(dtype, activation: str, has_bias: bool, tiling: Tiling):
    """The plain kernel function for numba type `dtype` with the epilogue act(acc + bias)."""
    return _make_kernel(dtype, device_functions(dtype)[activation][0], has_bias, tiling)


def signature(t: str) -> str:
    return f"void({t}[:, :], {t}[:, :], {t}[::1], {t}[:, ::1], boolean, boolean, int64)"


@cache
def kernel(dtype_name: str, activation: str = "identity", has_bias: bool = False):
    """The jitted GEMM for this dtype and epilogue; launch it with TILINGS[dtype_name]'s grid and threads."""
    return cuda.jit(build(numba_type(dtype_name), activation, has_bias, TILINGS[dtype_name]))


def tiles(m: int, n: int, tiling: Tiling) -> tuple[int, int]:
    """The launch grid's x and y: every output tile on grid.x (launch.gemm_grid), so any M launches."""
    return gemm_grid(m, n, tiling.bm, tiling.bn)
