"""CUDA compile checks that need no GPU: every numba.cuda kernel through compile_ptx for sm_90 (float32 kernels
must contain no float64 arithmetic), and every .cu source through `nvcc -arch=sm_90 -cubin` (no register spills).

These run in the normal pytest process; the simulator step (NUMBA_ENABLE_CUDASIM=1) cannot compile PTX, so
they skip there.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import types
from importlib import resources

import pytest

SIMULATOR = os.environ.get("NUMBA_ENABLE_CUDASIM") == "1"
pytestmark = pytest.mark.skipif(SIMULATOR, reason="compile_ptx is unavailable inside the CUDA simulator")

CC = (9, 0)  # H100 / H200
F64_INSTRUCTION = re.compile(r"\.f64\b")  # an instruction on doubles (register names are %fd.., never .f64)


@pytest.fixture(scope="module", autouse=True)
def compile_without_a_device():
    """Let device functions compile with no GPU present.

    numba-cuda compiles a `device=True` function for the *current device's* compute capability, which needs a
    driver even inside compile_ptx; with none, we tell it the device is the sm_90 we compile for anyway.
    """
    from numba import cuda
    from numba.cuda import dispatcher

    if cuda.is_available():
        yield
        return
    original = dispatcher.get_current_device
    dispatcher.get_current_device = lambda: types.SimpleNamespace(compute_capability=CC)
    try:
        yield
    finally:
        dispatcher.get_current_device = original


def _ptx(fn, signature: str) -> str:
    from numba import cuda

    ptx, _ = cuda.compile_ptx(fn, signature, cc=CC)
    return ptx


def _check(fn, signature: str, dtype_name: str) -> None:
    _check_ptx(_ptx(fn, signature), f"{fn.__name__}{signature}", dtype_name)


def _check_ptx(ptx: str, what: str, dtype_name: str) -> None:
    assert ".entry" in ptx
    if dtype_name == "float32":
        doubles = [line.strip() for line in ptx.splitlines() if F64_INSTRUCTION.search(line)]
        assert not doubles, f"{what} does float64 arithmetic: {doubles[:5]}"


def _table_cases():
    from mark1.kernels.cuda import conv, elementwise, losses, optimizers, rows

    for module in (elementwise, rows, losses, optimizers, conv):
        for dtype_name in ("float32", "float64"):
            for name in module.signatures(dtype_name):
                short = module.__name__.rsplit(".", 1)[1]
                yield pytest.param(module.__name__, name, dtype_name, id=f"{short}-{name}-{dtype_name}")


@pytest.mark.parametrize("module_name,name,dtype_name", list(_table_cases()))
def test_kernel_table_compiles(module_name, name, dtype_name):
    import importlib

    from mark1.kernels.cuda.dtypes import numba_type

    module = importlib.import_module(module_name)
    _check(module.build(numba_type(dtype_name))[name], module.signatures(dtype_name)[name], dtype_name)


@pytest.mark.parametrize("dtype_name", ["float32", "float64"])
@pytest.mark.parametrize("activation", ["identity", "sigmoid", "tanh", "relu"])
@pytest.mark.parametrize("has_bias", [False, True])
def test_numba_gemm_compiles_with_its_tile_in_registers(dtype_name, activation, has_bias):
    from mark1.kernels.cuda import matmul_numba
    from mark1.kernels.cuda.dtypes import numba_type

    tiling = matmul_numba.GPU_TILING if dtype_name == "float32" else matmul_numba.GPU_TILING_F64
    kernel = matmul_numba.build(numba_type(dtype_name), activation, has_bias, tiling)
    ptx = _ptx(kernel, matmul_numba.signature(dtype_name))
    _check_ptx(ptx, f"gemm {dtype_name} {activation} bias={has_bias}", dtype_name)
    # The register tile must stay in registers: a local-memory tile (a rolled loop indexing it) makes the GEMM
    # memory-bound. PTX shows it as a __local_depot array.
    assert "__local_depot" not in ptx and ".local" not in ptx


@pytest.mark.parametrize("dtype_name", ["float32", "float64"])
def test_split_k_sum_compiles(dtype_name):
    from mark1.kernels.cuda import stacked_sum
    from mark1.kernels.cuda.dtypes import numba_type

    _check(stacked_sum.build(numba_type(dtype_name)), stacked_sum.signature(dtype_name), dtype_name)


@pytest.mark.parametrize("dtype_name", ["float32", "float64"])
@pytest.mark.parametrize("activation", ["identity", "sigmoid", "tanh", "relu"])
def test_dense_backward_kernels_compile(dtype_name, activation):
    from mark1.kernels.cuda import losses, stacked_sum
    from mark1.kernels.cuda.dtypes import numba_type

    dtype = numba_type(dtype_name)
    _check(losses.build_delta(dtype, activation), losses.delta_signature(dtype_name), dtype_name)
    _check(stacked_sum.build(dtype), stacked_sum.signature(dtype_name), dtype_name)  # sums db's chunks


def test_image_diff_kernel_compiles():
    from mark1.kernels.cuda import image

    _check(image.image_diff, image.SIGNATURE, "float32")


def _nvcc() -> str | None:
    return shutil.which("nvcc") or next(
        (p for p in ("/usr/local/cuda/bin/nvcc",) if os.path.exists(p)), None
    )


CU_SOURCES = sorted(p.name for p in resources.files("mark1.kernels.cuda").iterdir() if p.name.endswith(".cu"))


def test_there_are_cu_sources():
    assert "sgemm.cu" in CU_SOURCES


@pytest.mark.parametrize("name", CU_SOURCES)
def test_cu_source_compiles_for_sm90_without_spills(name, tmp_path):
    """With the default launch bounds (SGEMM_MIN_BLOCKS=1): the 8x8 register tile fits without spilling."""
    nvcc = _nvcc()
    if nvcc is None:
        pytest.skip("nvcc is not installed (CUDA toolkit); the .cu sources are compiled on the GPU machine instead")
    source = resources.files("mark1.kernels.cuda").joinpath(name)
    cmd = [nvcc, "-arch=sm_90", "-cubin", "-std=c++17", "-DMARK1_INSTANTIATE_ALL", "-Xptxas", "-v",
           "-o", str(tmp_path / "out.cubin"), str(source)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"{' '.join(cmd)} failed:\n{done.stderr}"
    report = done.stdout + done.stderr
    assert "Compiling entry function" in report, report
    spills = re.findall(r"(\d+) bytes spill stores", report)
    assert spills and all(s == "0" for s in spills), f"register spills in {name}:\n{report}"


def _bare_literal(x):
    x[0] = x[0] * 0.1  # 0.1 is a float64 literal: the product is computed in double


def test_the_f64_check_catches_a_bare_literal():
    with pytest.raises(AssertionError, match="does float64 arithmetic"):
        _check(_bare_literal, "void(float32[::1])", "float32")
