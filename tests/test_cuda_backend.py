"""The cuda backend where no GPU is usable (the normal CI process): it says why, and its options are checked."""

from __future__ import annotations

import pytest

import mark1 as m1
from mark1.backends import ops_cuda
from mark1.kernels.cuda import launch

pytestmark = pytest.mark.skipif(ops_cuda.simulator() or ops_cuda.gpu_unavailable_reason() is None,
                                reason="a CUDA device or the simulator is usable here")


def test_reason_names_cupy_driver_or_device():
    reason = ops_cuda.unavailable_reason()
    assert reason and any(word in reason for word in ("CuPy", "driver", "device", "numba.cuda"))


def test_use_raises_backend_unavailable_with_the_reason():
    with pytest.raises(m1.BackendUnavailable, match="backend 'cuda' is unavailable: "):
        m1.use("cuda")


def test_auto_skips_cuda():
    assert "cuda" not in m1.available_backends()
    with m1.backend("auto") as be:
        assert be.name != "cuda"


def test_bad_matmul_option_is_refused_before_touching_a_device():
    with pytest.raises(ValueError, match=r"matmul='cublas'; valid choices are 'raw', 'numba'"):
        ops_cuda.create(matmul="cublas")


@pytest.mark.parametrize("n,expected", [(0, 1), (1, 1), (256, 1), (257, 2), (10**9, launch.MAX_BLOCKS)])
def test_grid_stride_blocks(n, expected):
    assert launch.blocks_for(n, 256) == expected
