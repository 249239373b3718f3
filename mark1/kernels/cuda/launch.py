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
