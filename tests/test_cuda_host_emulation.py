"""The CuPy RawKernel SGEMM (sgemm.cu) run on CPU threads, so its index math is tested without a GPU.

tests/cuda_host/cuda_host_shim.h maps the few CUDA features the kernel uses onto C++20 (a std::thread per
CUDA thread, std::barrier for __syncthreads, blocks in sequence); the harness compares every output element
with a double-precision reference. Flags come from mark1.kernels.cuda.raw.plan, the function the GPU path
launches with, across layouts (contiguous, transposed views, general strides), edge tiles and epilogues.
"""

from __future__ import annotations

import shutil
import subprocess
from importlib import resources
from pathlib import Path

import numpy as np
import pytest

from mark1.kernels.cuda import raw

HERE = Path(__file__).parent / "cuda_host"
SHAPES = [(1, 1, 1), (5, 3, 7), (128, 128, 8), (130, 131, 12), (257, 260, 33)]  # (M, N, K)
LAYOUTS = ("contiguous", "transposed", "strided")
SPLIT_K = [((130, 12, 300), 104), ((5, 131, 33), 16), ((64, 64, 512), 256)]  # ((M, N, K), k_split)
# (bias stride, bias offset) in elements: b[::3], b[5:], a column of a (N, 7) matrix, both at once
BIAS_VIEWS = [(3, 0), (1, 5), (7, 2), (2, 1)]
CONTIGUOUS_BIAS = [1, 0, 0]  # the trailing "bias_stride bias_offset poison" of a case line


def _strides(layout: str, rows: int, cols: int) -> tuple[int, int]:
    """Strides in elements of a (rows, cols) operand laid out as named."""
    return {"contiguous": (cols, 1), "transposed": (1, rows), "strided": (2 * cols + 3, 2)}[layout]


def _random_cases(count: int = 16):
    """Seeded random shapes, layouts, epilogues and split-K slices on top of the fixed list."""
    rng = np.random.default_rng(5)
    for _ in range(count):
        m, n, k = (int(v) for v in rng.integers(1, 300, 3))
        la, lb = (LAYOUTS[int(i)] for i in rng.integers(0, 3, 2))
        split = rng.random() < 0.5
        k_split = int(rng.integers(1, max(2, k // 8) + 1)) * 8 if split else k
        act, bias = (0, False) if split else (int(rng.integers(0, 4)), bool(rng.integers(0, 2)))
        yield m, n, k, la, lb, act, bias, k_split


def _cases():
    for m, n, k in SHAPES:
        for i, (la, lb) in enumerate((a, b) for a in LAYOUTS for b in LAYOUTS):
            act, bias = i % 4, i % 2 == 1
            sa, sb = _strides(la, m, k), _strides(lb, k, n)
            p = raw.plan(m, n, sa, sb, 0, 0, 0)
            yield (f"{m}x{k}@{k}x{n} {la}/{lb} act={act} bias={bias}",
                   [m, n, k, k, *sa, *sb, p.a_k_contig, p.b_n_contig, act, bias, p.vec_a, p.vec_b, p.vec_c, *p.grid, 1,
                    *CONTIGUOUS_BIAS])
    for m, n, k, la, lb, act, bias, k_split in _random_cases():
        sa, sb = _strides(la, m, k), _strides(lb, k, n)
        p = raw.plan(m, n, sa, sb, 0, 0, 0)
        splits = -(-k // k_split)
        yield (f"random {m}x{k}@{k}x{n} {la}/{lb} act={act} bias={bias} splits={splits}",
               [m, n, k, k_split, *sa, *sb, p.a_k_contig, p.b_n_contig, act, bias, p.vec_a, p.vec_b, p.vec_c,
                *p.grid, splits, *CONTIGUOUS_BIAS])
    for (m, n, k), k_split in SPLIT_K:
        for la, lb in (("contiguous", "contiguous"), ("transposed", "transposed"), ("strided", "contiguous")):
            sa, sb = _strides(la, m, k), _strides(lb, k, n)
            p = raw.plan(m, n, sa, sb, 0, 0, 0)
            splits = -(-k // k_split)
            yield (f"{m}x{k}@{k}x{n} {la}/{lb} split-K {splits} x {k_split}",
                   [m, n, k, k_split, *sa, *sb, p.a_k_contig, p.b_n_contig, 0, 0, p.vec_a, p.vec_b, p.vec_c, *p.grid,
                    splits, *CONTIGUOUS_BIAS])
    for (m, n, k), (stride, offset) in zip([(5, 3, 7), (130, 131, 12), (9, 260, 16), (1, 6, 1)], BIAS_VIEWS,
                                           strict=True):
        yield (f"{m}x{k}@{k}x{n} bias stride {stride} offset {offset}", _bias_view_case(m, n, k, stride, offset))


def _bias_view_case(m: int, n: int, k: int, stride: int, offset: int, poison: bool = False) -> list[int]:
    """A row-major GEMM with a sigmoid + bias epilogue whose bias is a strided/offset view (m1.dense_forward(x, w,
    b[::2]) or a matrix column): the kernel must read it through its stride, not at unit stride."""
    sa, sb = _strides("contiguous", m, k), _strides("contiguous", k, n)
    p = raw.plan(m, n, sa, sb, 0, 0, 0)
    return [m, n, k, k, *sa, *sb, p.a_k_contig, p.b_n_contig, 1, 1, p.vec_a, p.vec_b, p.vec_c, *p.grid, 1,
            stride, offset, poison]


def _run_harness(harness: Path, lines) -> subprocess.CompletedProcess:
    stdin = "\n".join(" ".join(str(int(v)) for v in line) for line in lines) + "\n"
    return subprocess.run([str(harness)], input=stdin, capture_output=True, text=True, timeout=600)


def _build(tmp_path_factory, *flags: str) -> Path:
    compiler = shutil.which("g++") or shutil.which("clang++")
    if compiler is None:
        pytest.skip("no C++20 compiler (g++/clang++) to build the host-emulation harness")
    exe = tmp_path_factory.mktemp("sgemm_host") / "sgemm_host_check"
    kernels_dir = Path(str(resources.files("mark1.kernels.cuda")))
    cmd = [compiler, "-std=c++20", "-O1", "-pthread", *flags, f"-I{HERE}", f"-I{kernels_dir}", "-o", str(exe),
           str(HERE / "sgemm_host_check.cpp")]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    if done.returncode != 0 and flags:
        pytest.skip(f"the compiler cannot build with {' '.join(flags)}: {done.stderr[-300:]}")
    assert done.returncode == 0, f"{' '.join(cmd)}\n{done.stderr}"
    return exe


@pytest.fixture(scope="module")
def harness(tmp_path_factory) -> Path:
    return _build(tmp_path_factory)


def test_plan_takes_vector_paths_only_where_aligned():
    assert raw.plan(128, 128, (8, 1), (128, 1), 0, 0, 0).vec_a  # row-major, K % 4 == 0
    assert not raw.plan(128, 128, (7, 1), (128, 1), 0, 0, 0).vec_a  # rows start misaligned
    assert not raw.plan(128, 128, (8, 1), (128, 1), 4, 0, 0).vec_a  # base pointer misaligned
    transposed = raw.plan(128, 128, (1, 128), (1, 8), 0, 0, 0)
    assert not transposed.a_k_contig and not transposed.b_n_contig and transposed.vec_a and transposed.vec_b
    strided = raw.plan(5, 3, (9, 2), (9, 2), 0, 0, 0)
    assert strided.a_k_contig and strided.b_n_contig and not strided.vec_a and not strided.vec_b


def test_sgemm_cu_matches_float64_on_cpu_threads(harness):
    names, lines = zip(*_cases(), strict=True)
    done = _run_harness(harness, lines)
    results = done.stdout.split("\n")[: len(names)]
    assert len(results) == len(names), done.stderr
    failed = [f"{name}: {result}" for name, result in zip(names, results, strict=True) if not result.startswith("ok")]
    assert not failed, "\n".join(failed)
    assert done.returncode == 0


def test_host_check_fails_a_nan_in_the_output(harness):
    """One NaN written over C[0][0] after the kernel: the errors that follow are finite and must not hide it."""
    done = _run_harness(harness, [_bias_view_case(9, 260, 16, 1, 0, poison=True), _bias_view_case(9, 260, 16, 1, 0)])
    results = done.stdout.split("\n")
    assert results[0].startswith("FAIL") and "NaN" in results[0], done.stdout
    assert results[1].startswith("ok"), done.stdout
    assert done.returncode == 1


def test_grids_launch_for_any_number_of_rows():
    """Past 65 535 row tiles (8.4 M float32 rows at 128 per tile) a grid.y launch fails: tiles go on grid.x."""
    from mark1.kernels.cuda import launch, matmul_numba

    for m, n in [(9_000_000, 10), (2**31 - 1, 1), (8_388_609, 257), (1, 1)]:
        grids = {"raw": (raw.plan(m, n, (1, 1), (1, 1), 0, 0, 0).grid, raw.SGEMM_TILE, raw.SGEMM_TILE)}
        for tiling in (matmul_numba.GPU_TILING, matmul_numba.GPU_TILING_F64):
            grids[f"numba {tiling.bm}"] = (matmul_numba.tiles(m, n, tiling), tiling.bm, tiling.bn)
        for name, ((gx, gy), bm, bn) in grids.items():
            assert gx <= launch.MAX_GRID_X and gy <= launch.MAX_GRID_YZ, (name, m, n, gx, gy)
            assert gx * gy == -(-m // bm) * -(-n // bn), (name, m, n)
    with pytest.raises(ValueError, match="CUDA grids hold at most"):
        raw.plan(2**31 - 1, 2**20, (1, 1), (1, 1), 0, 0, 0)


def test_sgemm_cu_has_no_shared_memory_race(tmp_path_factory):
    """ThreadSanitizer over the emulated block: a missing or misplaced __syncthreads around the double-buffered
    tiles is a data race between the CPU threads standing in for CUDA threads (checked: removing the one at the
    end of the K loop is reported). The host-side stand-in for compute-sanitizer's racecheck."""
    exe = _build(tmp_path_factory, "-fsanitize=thread", "-g")
    cases = list(_cases())
    lines = ([line for name, line in cases if name.startswith("130x12@")][:3]  # two K slices: both buffers used
             + [line for name, line in cases if "split-K" in name][:3])
    assert len(lines) == 6
    done = _run_harness(exe, lines)
    assert "ThreadSanitizer" not in done.stderr, done.stderr[:3000]
    assert done.returncode == 0 and done.stdout.count("ok") == len(lines), done.stdout + done.stderr[-2000:]
