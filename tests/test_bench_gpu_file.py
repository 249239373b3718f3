"""The GPU run is `mark1 bench --gpu` (bench/gpu_run.sh calls it): one engine, one schema, so its file draws
beside a CPU file in `mark1 bench report`. Without a GPU the engine's GPU path is exercised with CPU
implementations wearing the GPU contenders' names and device."""

from __future__ import annotations

import dataclasses

from test_bench_report import synthetic_results  # a sibling test module: the CPU side

from mark1 import cli
from mark1.bench import contenders, gpu, machine, results, runner


def _as_gpu(contender, name):
    return dataclasses.replace(contender, name=name, device="gpu", description=f"{name} (stand-in)")


def test_gpu_option_selects_gpu_contenders_and_sizes_and_no_cpu_reference(capsys):
    assert cli.main(["bench", "--gpu", "--list"]) == 0
    out = capsys.readouterr().out
    assert "matmul            1024, 2048, 4096, 8192" in out and "sigmoid           2^28" in out
    assert "launch" in out and "batch 16384" in out and "dense" not in out
    assert "numpy " not in out and "mark1-numba" not in out     # CPU contenders are not part of the GPU run
    for name in gpu.GPU_CONTENDERS:
        assert name in out


def test_a_gpu_run_through_the_engine_draws_beside_a_cpu_file(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(machine, "COPY_BYTES", 4 * 2**20)
    found, _ = contenders.discover(["numpy"])
    by_name = {c.name: c for c in found}
    stand_ins = [_as_gpu(by_name["numpy"], "cupy"), _as_gpu(by_name["mark1-numpy"], "mark1-cuda"),
                 _as_gpu(by_name["mark1-numpy"], "mark1-cuda-numba")]
    monkeypatch.setattr(runner, "discover", lambda tokens: (stand_ins, [{"name": "torch-cuda", "reason": "no GPU"}]))
    options = runner.Options(workloads=["matmul", "launch", "train_step"], sizes=[("matmul", 32), ("train_step", 8)],
                             repeat=1, min_time=0.0005, progress=False, settle_s=0)
    data = runner.run(options)
    launch = [f for f in data["figures"] if f["workload"] == "launch"]
    assert {f["contender"] for f in launch} == {"cupy", "mark1-cuda", "mark1-cuda-numba"}
    assert all(f["status"] == "ok" and f["reference"] == "cupy" and f["ratio_to_reference"] for f in data["figures"])
    gpu_file = results.save(data, tmp_path / "gpu-box_nvidia-h100.json")
    cpu_file = results.save(synthetic_results("amd-epyc-2c", "cpu", ("mark1-numba", "numpy", "torch"), 1.0),
                            tmp_path / "amd-epyc-2c.json")
    assert cli.main(["bench", "report", str(cpu_file), str(gpu_file), "--out-dir", str(tmp_path / "out")]) == 0
    md = (tmp_path / "out" / "report.md").read_text()
    assert f"| workload | size | amd-epyc-2c | {data['machine']} |" in md
    assert "| matmul | 32 |" in md and "× cupy" in md
    assert (tmp_path / "out" / "report.png").stat().st_size > 50_000
    assert "Traceback" not in capsys.readouterr().err
