"""The simulator's cuda.shared.array under a thread switch between its lookup and its insert (the cause of the
flaky `test_losses[cuda-mse]`): with the backend's lock every thread of a block gets the same array.

numba-cuda's FakeCUDAShared.array does `get(line)`, then `np.empty` + insert when missing, unlocked: a switch in
between gives two threads of one block two different arrays, and a reduction then sums np.empty garbage. The
test forces that switch on every allocation (a lookup that yields the GIL), so it fails every time without
the lock rather than once in thousands of launches.
"""

from __future__ import annotations

import time

import numpy as np
import pytest

import mark1 as m1

pytestmark = pytest.mark.cudasim


class _SwitchAfterLookup(dict):
    def get(self, key, default=None):
        found = super().get(key, default)
        time.sleep(0)   # hand the GIL to another thread of the block, as a forced switch would
        return found


@pytest.fixture
def switching_shared_arrays(monkeypatch):
    from numba.cuda.simulator import kernelapi

    init = kernelapi.FakeCUDAShared.__init__

    def init_switching(self, *args, **kwargs):
        init(self, *args, **kwargs)
        self._allocations = _SwitchAfterLookup()

    monkeypatch.setattr(kernelapi.FakeCUDAShared, "__init__", init_switching)


def test_block_reductions_and_gemm_tiles_survive_a_switch_inside_the_allocation(switching_shared_arrays):
    rng = np.random.default_rng(0)
    pred, target = rng.standard_normal((6, 3)), rng.standard_normal((6, 3))
    a, b = rng.standard_normal((19, 11)), rng.standard_normal((11, 13))
    with m1.backend("cuda"):
        losses = [float(m1.mse(m1.asarray(pred, dtype="float64"), m1.asarray(target, dtype="float64"))[0])
                  for _ in range(5)]
        product = m1.to_numpy(m1.matmul(m1.asarray(a, dtype="float64"), m1.asarray(b, dtype="float64")))
    np.testing.assert_allclose(losses, ((pred - target) ** 2).sum() / 12, rtol=1e-12)
    np.testing.assert_allclose(product, a @ b, rtol=1e-12, atol=1e-12)
