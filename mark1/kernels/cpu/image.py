"""image_diff: per pixel, the largest absolute channel difference of two uint8 images, as float32."""

from __future__ import annotations

import numpy as np
from numba import float32, prange, uint8

from mark1.kernels.cpu._jit import per_dtype, readonly


@per_dtype(lambda t: (readonly(uint8, 3), readonly(uint8, 3), float32[:, :]), parallel=True)
def _image_diff(a, b, out):
    for i in prange(a.shape[0]):
        for j in range(a.shape[1]):
            best = 0
            for c in range(a.shape[2]):
                d = abs(np.int32(a[i, j, c]) - np.int32(b[i, j, c]))  # widened first: uint8 would wrap
                best = d if d > best else best
            out[i, j] = np.float32(best)


def image_diff(a, b, out):
    _image_diff(a, b, out)
