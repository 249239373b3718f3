"""The GPU run's results file (bench/gpu_cuda.py, written on an H100) draws beside a CPU file in `mark1 bench report`.

The figures are made with gpu_cuda.py's own `figure` and `add_ratios`, and the file is assembled the way its
main() does, so a change there that `report` cannot read fails here, without a GPU.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from test_bench_report import synthetic_results  # a sibling test module: the CPU side

from mark1 import cli
from mark1.bench import results

GPU_SCRIPT = Path(__file__).resolve().parents[1] / "bench" / "gpu_cuda.py"


@pytest.fixture(scope="module")
def gpu_cuda():
    if not GPU_SCRIPT.exists():
        pytest.skip("bench/gpu_cuda.py is not in this tree")
    spec = importlib.util.spec_from_file_location("gpu_cuda", GPU_SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def gpu_results(g) -> dict:
    """What gpu_cuda.main() writes, with made-up timings (first call, per-call samples, calls per sample)."""
    peak = g.H100_FP32_SIMT / 1e9
    figs = []
    for n in (1024, 4096):
        work = 2.0 * n**3
        for name, seconds in (("cupy", work / 50e12), ("mark1-cuda-raw", work / 40e12)):
            figs.append(g.figure("matmul", str(n), [n, n, n], work, name, "GFLOP/s", work,
                                 (0.5, [seconds, seconds], 10), 1e-6, "cupy", peak))
    figs.append(g.figure("matmul", "8192", [8192] * 3, 2.0 * 8192**3, "mark1-cuda-numba", "GFLOP/s", 2.0 * 8192**3,
                         None, 0.5, "cupy", peak, "wrong"))
    n = 1 << 28
    for name, gbs in (("copy", 3000.0), ("mark1-cuda", 2800.0), ("cupy", 2900.0)):
        figs.append(g.figure("sigmoid", "2^28", [n], n, name, "GB/s", 8.0 * n, (0.1, [8.0 * n / gbs / 1e9], 1),
                             0.0, "copy"))
    for batch in (256, 16384):
        for name, steps in (("mark1-cuda", 5000.0), ("torch-cuda", 3000.0)):
            figs.append(g.figure("train_step", f"batch {batch}", [batch], batch, name, "steps/s", 1e9,
                                 (1.0, [1 / steps] * 3, 20), 1e-6, "torch-cuda"))
    figs.append(g.figure("launch", "1024 elements", [1024], 1024, "mark1-cuda", "steps/s", 1.0,
                         (0.01, [5e-6], 100), None, "cupy"))
    figs.append(g.figure("launch", "-", [], 0, "mark1-cuda", "steps/s", 1.0, None, "RuntimeError: boom",
                         status="error"))
    g.add_ratios(figs)
    gpu = {"name": "NVIDIA H100 80GB HBM3", "memory_bytes": 80 * 2**30, "compute_capability": "9.0", "sms": 132,
           "cuda_driver": 13000}
    return {
        "schema": "mark1-bench/1", "machine": "nvidia-h100-80gb-hbm3", "created": "2026-11-25T09:00:00+00:00",
        "command": ["bench/gpu_cuda.py"], "suite": "full",
        "hardware": {"cpu_model": "x86_64", "cpu_count": None, "memory_bytes": None, "machine": "x86_64", "gpu": gpu},
        "versions": g.versions(), "threads": None,
        "peaks": {"cpu": None, "gpu": {"flop_per_s": g.H100_FP32_SIMT, "formula": "H100 SXM fp32 SIMT (CUDA_NOTES)",
                                       "source": "quoted", "bytes_per_s": 3000e9,
                                       "bandwidth_method": "device-to-device memcpy measured in this run"}},
        "contenders": [{"name": c, "device": "gpu", "description": c} for c in sorted({f["contender"] for f in figs})],
        "skipped": [], "interrupted": False, "figures": figs,
    }


def test_gpu_script_results_draw_beside_a_cpu_file(gpu_cuda, tmp_path, capsys):
    gpu = results.save(gpu_results(gpu_cuda), tmp_path / "nvidia-h100-80gb-hbm3.json")
    cpu = results.save(synthetic_results("amd-epyc-2c", "cpu", ("mark1-numba", "numpy", "torch"), 1.0),
                       tmp_path / "amd-epyc-2c.json")
    assert cli.main(["bench", "report", str(cpu), str(gpu), "--out-dir", str(tmp_path / "out")]) == 0
    md = (tmp_path / "out" / "report.md").read_text()
    assert "| workload | size | amd-epyc-2c | nvidia-h100-80gb-hbm3 |" in md
    assert "| matmul | 4096 | — | mark1-cuda-raw 40,000 GFLOP/s · 0.80× cupy |" in md
    assert "| train_step | batch 16384 | mark1-numba" in md and "mark1-cuda 5,000 steps/s · 1.67× torch-cuda" in md
    assert "GPU peak: H100 SXM fp32 SIMT (CUDA_NOTES) (source: quoted)" in md and "threads not recorded" in md
    assert "| matmul | 8192 | — | — | wrong |" in md                     # mark1-cuda-numba's column
    assert "| sigmoid | 2^28 | copy | 2,800 GB/s · 0.93× |" in md         # this script's bandwidth reference
    assert (tmp_path / "out" / "report.png").stat().st_size > 50_000
    assert "Traceback" not in capsys.readouterr().err
