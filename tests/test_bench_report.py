"""`mark1 bench report`: two synthetic results files side by side; bad files are errors naming the file."""

from __future__ import annotations

import json

import pytest
from PIL import Image

from mark1 import cli
from mark1.bench import report, results, runner, workloads


def synthetic_results(machine: str, device: str, contenders: tuple[str, ...], speed: float) -> dict:
    """A small results file in the documented schema: every workload at its first two quick sizes."""
    peak_flops, peak_bytes = 150e9 * speed, 20e9 * speed
    figures = []
    for w in workloads.WORKLOADS.values():
        for size in w.quick[:2]:
            for i, name in enumerate(contenders):
                seconds = w.work(size) / (peak_flops if w.work_kind == "flop" else peak_bytes) * (2 + i)
                peak = peak_flops if w.work_kind == "flop" else peak_bytes
                value = w.throughput(size, seconds)
                figures.append({
                    "workload": w.name, "size": size.label, "dims": list(size.dims), "x": size.x,
                    "x_label": w.x_label, "dtype": "float32", "contender": name, "device": device, "unit": w.unit,
                    "work": w.work(size), "work_kind": w.work_kind, "status": "ok", "error": 1e-7,
                    "first_call_s": 2 * seconds, "repeats": 3, "number": 1,
                    "seconds": {"median": seconds, "min": 0.9 * seconds, "max": 1.2 * seconds, "q1": seconds,
                                "q3": seconds},
                    "value": value, "value_min": w.throughput(size, 1.2 * seconds),
                    "value_max": w.throughput(size, 0.9 * seconds),
                    "peak_value": w.peak_throughput(size, peak),
                    "fraction_of_peak": value / w.peak_throughput(size, peak),
                })
    runner.add_ratios(figures)
    gpu = {"name": "NVIDIA H100 80GB HBM3", "memory_bytes": 80 * 2**30} if device == "gpu" else None
    return {
        "schema": results.SCHEMA, "machine": machine, "created": "2026-11-25T08:00:00+00:00",
        "command": ["mark1", "bench"], "suite": "quick",
        "hardware": {"cpu_model": "Test CPU", "cpu_count": 2, "memory_bytes": 2**34, "machine": "x86_64", "gpu": gpu},
        "versions": {"python": "3.11", "numpy": "2.4"}, "threads": {"requested": 2},
        "peaks": {"cpu": {"flop_per_s": peak_flops, "formula": "2 × 2 × 8 × 2 × 2", "bytes_per_s": peak_bytes,
                          "bandwidth_method": "synthetic"},
                  "gpu": {"flop_per_s": peak_flops, "formula": "67 TFLOP/s", "source": "datasheet",
                          "bytes_per_s": peak_bytes, "bandwidth_method": "synthetic"} if gpu else None},
        "contenders": [{"name": c, "device": device, "description": c} for c in contenders],
        "skipped": [{"name": "mark1-cuda", "reason": "no GPU"}] if not gpu else [],
        "figures": figures,
    }


@pytest.fixture
def two_files(tmp_path):
    cpu = synthetic_results("test-cpu-2c", "cpu", ("mark1-numba", "numpy", "torch"), 1.0)
    gpu = synthetic_results("test-cpu-16c_nvidia-h100", "gpu", ("mark1-cuda", "cupy", "torch-cuda"), 300.0)
    paths = [results.save(cpu, tmp_path / "cpu.json"), results.save(gpu, tmp_path / "gpu.json")]
    return paths


def test_report_renders_markdown_table_and_png_side_by_side(two_files, tmp_path, capsys):
    assert cli.main(["bench", "report", *map(str, two_files), "--out-dir", str(tmp_path / "out")]) == 0
    md = (tmp_path / "out" / "report.md").read_text()
    lines = md.splitlines()
    side = lines.index("| workload | size | test-cpu-2c | test-cpu-16c_nvidia-h100 |")
    assert lines.index("### Machines side by side") < side
    assert lines[side + 2] == ("| matmul | 256 | mark1-numba 75 GFLOP/s · 1.50× numpy "
                               "| mark1-cuda 22,500 GFLOP/s · 1.50× cupy |")
    cpu = lines.index("| workload | size | ratio to | mark1-numba | numpy | torch |")
    gpu = lines.index("| workload | size | ratio to | mark1-cuda | torch-cuda | cupy |")
    rows = len(workloads.WORKLOADS) * 2
    assert all(line.startswith("| ") for line in lines[cpu + 2:cpu + 2 + rows]) and lines[cpu + 2 + rows] == ""
    assert lines[cpu + 2] == ("| matmul | 256 | numpy | 75 GFLOP/s · 1.50× · 50.0% | 50 GFLOP/s · 1.00× · 33.3% "
                              "| 37.5 GFLOP/s · 0.75× · 25.0% |")
    assert lines[gpu + 2 + rows - 1].startswith("| train_step | batch 16384 |")
    assert f"geometric mean of × ref: mark1-numba 1.50× over {rows} figures; torch 0.75× over {rows} figures" in md
    assert "GPU peak: 67 TFLOP/s (source: datasheet)" in md and "not run here: mark1-cuda (no GPU)" in md
    image = Image.open(tmp_path / "out" / "report.png")
    assert image.width > 1000 and image.height > 1500   # 2 machines × 5 workloads of panels
    assert "wrote" in capsys.readouterr().out


def test_report_on_one_file_with_failures_still_renders(tmp_path):
    data = synthetic_results("one", "cpu", ("numpy",), 1.0)
    data["figures"][0].update(status="error", value=None, message="RuntimeError: boom")
    runner.add_ratios(data["figures"])
    md, png = report.write_report([results.save(data, tmp_path / "one.json")], tmp_path)
    assert "| matmul | 256 | — | error |" in md.read_text() and png.exists()


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("{not json", "not valid JSON"),
        (json.dumps({"hello": 1}), "not a mark1 benchmark results file"),
        (json.dumps([1, 2]), "expected a JSON object"),
        (json.dumps({"schema": "mark1-bench/9"}), "'mark1-bench/9' is from another mark1 version"),
        (json.dumps({"schema": results.SCHEMA, "machine": "m"}), "missing keys hardware"),
        (json.dumps({"schema": results.SCHEMA, "machine": "m", "hardware": {}, "versions": {}, "peaks": {},
                     "figures": [{"workload": "matmul"}]}), "figures[0] lacks size"),
    ],
)
def test_corrupted_or_foreign_json_is_an_error_naming_the_file(content, expected, tmp_path, two_files, capsys):
    bad = tmp_path / "broken.json"
    bad.write_text(content)
    assert cli.main(["bench", "report", str(two_files[0]), str(bad), "--out-dir", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert str(bad) in err and expected in err and "Traceback" not in err
    assert not (tmp_path / "o" / "report.md").exists()


def test_missing_file_is_an_error_naming_it(tmp_path, capsys):
    missing = tmp_path / "nope.json"
    assert cli.main(["bench", "report", str(missing)]) == 2
    assert str(missing) in capsys.readouterr().err


def test_report_without_files_and_no_results_dir_says_what_to_do(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert cli.main(["bench", "report"]) == 2
    assert "run `mark1 bench` first" in capsys.readouterr().err
