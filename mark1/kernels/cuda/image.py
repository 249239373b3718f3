"""image_diff as a numba.cuda kernel: per pixel, the largest absolute channel difference of two uint8 images."""

from __future__ import annotations

from functools import cache

from numba import cuda, float32, int32


def image_diff(a, b, out):
    """a, b: uint8 (H, W, C), any strides; out: float32 (H, W). Channels are widened to int32 first (no wrap)."""
    height, width = out.shape
    for idx in range(cuda.grid(1), height * width, cuda.gridsize(1)):
        i = idx // width
        j = idx - i * width
        best = int32(0)
        for c in range(a.shape[2]):
            d = int32(a[i, j, c]) - int32(b[i, j, c])
            best = max(best, d if d >= 0 else -d)
        out[i, j] = float32(best)


SIGNATURE = "void(uint8[:, :, :], uint8[:, :, :], float32[:, ::1])"


@cache
def kernel():
    return cuda.jit(image_diff)
