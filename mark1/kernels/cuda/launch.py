"""Launch geometry shared by the numba.cuda kernels, sized down when running in the CUDA simulator.

The simulator runs one OS thread per CUDA thread, so there every block is small and grids are capped;
grid-stride loops keep every kernel correct for any grid, so only the speed changes.
"""

from __future__ import annotations

from numba import config

SIMULATOR = bool(config.ENABLE_CUDASIM)

# 1-D grid-stride kernels (elementwise, losses, optimizers): threads per block and a cap on blocks.
# 256 threads keeps 8 blocks resident per SM on sm_90; 8192 blocks of 256 cover an H100 (132 SMs) many times.
THREADS = 4 if SIMULATOR else 256
MAX_BLOCKS = 2 if SIMULATOR else 8192

# Row kernels (softmax, cross-entropy, the final sum of partial sums): one block per row, a power of two.
ROW_THREADS = 4 if SIMULATOR else 128

# Column-sum kernels (db of the dense layer): blocks of COL_TILE columns x COL_ROWS row lanes.
COL_TILE = 4 if SIMULATOR else 32
COL_ROWS = 1 if SIMULATOR else 8
MAX_ROW_CHUNKS = 2 if SIMULATOR else 256


def blocks_for(n: int, threads: int = THREADS) -> int:
    """Blocks for a grid-stride loop over n items: enough to cover n once, at most MAX_BLOCKS, at least 1."""
    return max(1, min(MAX_BLOCKS, -(-n // threads)))


# CUDA's grid limits: gridDim.x up to 2^31 - 1 blocks, gridDim.y and gridDim.z up to 65 535.
MAX_GRID_X = 2**31 - 1
MAX_GRID_YZ = 65_535


def gemm_grid(m: int, n: int, bm: int, bn: int) -> tuple[int, int]:
    """(blocks, 1): a GEMM's BM x BN output tiles numbered along grid.x, column tile fastest.

    Rows on grid.y would cap M at 65 535 tiles (8.4 M rows at BM = 128: a per-pixel MLP over a 4096^2
    image); grid.x holds 2^31 - 1. The kernels recover (row tile, column tile) = divmod(blockIdx.x, ⌈N/BN⌉).
    """
    blocks = max(1, -(-m // bm)) * max(1, -(-n // bn))
    if blocks > MAX_GRID_X:
        raise ValueError(f"GEMM of {m} x {n} outputs needs {blocks} tiles of {bm} x {bn}; CUDA grids hold "
                         f"at most {MAX_GRID_X}")
    return blocks, 1

# Split-K for GEMMs whose output has too few tiles to fill the GPU (the dense layer's dW = Xᵀδ: a small
# in x out matrix, K = batch): below SPLIT_MIN_BLOCKS blocks, K is cut into slices of at least SPLIT_MIN_K
# (a multiple of the tile depth) computed by separate blocks and summed by a second kernel.
SPLIT_MIN_BLOCKS = 4 if SIMULATOR else 256  # ~2 blocks per SM on an H100 (132 SMs)
SPLIT_MIN_K = 8 if SIMULATOR else 256
MAX_SPLITS = 3 if SIMULATOR else 32


def split_k(blocks: int, k: int, bk: int, min_blocks: int = SPLIT_MIN_BLOCKS, min_k: int = SPLIT_MIN_K,
            max_splits: int = MAX_SPLITS) -> tuple[int, int]:
    """(splits, k_split) for a GEMM of `blocks` output tiles and depth k; (1, k) when splitting does not pay."""
    if blocks >= min_blocks or k < 2 * min_k:
        return 1, k
    splits = min(-(-min_blocks // blocks), k // min_k, max_splits)
    per_split = -(-k // splits)
    k_split = -(-per_split // bk) * bk  # rounded up to a multiple of the tile depth
    return -(-k // k_split), k_split
