"""The RBM's numba.cuda kernels through compile_ptx for sm_90 with no GPU: they type-check as the GPU compiles them
(the simulator runs them as Python and would not notice), and float32 kernels do no float64 arithmetic."""

from __future__ import annotations

import pytest
from test_cuda_compile import SIMULATOR, _check, compile_without_a_device  # noqa: F401  (autouse fixture)

pytestmark = pytest.mark.skipif(SIMULATOR, reason="compile_ptx is unavailable inside the CUDA simulator")


def _names():
    from mark1.kernels.cuda import rbm

    return list(rbm.signatures("float32"))


@pytest.mark.parametrize("dtype_name", ["float32", "float64"])
@pytest.mark.parametrize("name", _names())
def test_rbm_kernel_compiles(name, dtype_name):
    from mark1.kernels.cuda import rbm
    from mark1.kernels.cuda.dtypes import numba_type

    _check(rbm.build(numba_type(dtype_name))[name], rbm.signatures(dtype_name)[name], dtype_name)
