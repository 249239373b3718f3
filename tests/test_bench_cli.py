"""`mark1 bench` command line: parsing, bad names and sizes, unusable contenders, a tiny end-to-end run."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest

from mark1 import cli
from mark1.bench import cli as bench_cli
from mark1.bench import contenders, machine, results, workloads

TINY = ["--sizes", "16", "--repeat", "1", "--min-time", "0.0005", "--no-progress", "--plain"]


@pytest.fixture
def small_copy(monkeypatch):
    """The bandwidth benchmark on 4 MiB instead of 256 MiB: tests check the plumbing, not the machine."""
    monkeypatch.setattr(machine, "COPY_BYTES", 4 * 2**20)


def test_bench_and_report_subcommands_parse():
    parser = cli.build_parser()
    args = parser.parse_args(["bench", "--full", "--only", "matmul, sigmoid", "--threads", "1", "--repeat", "3"])
    assert args.run is bench_cli.run_bench
    assert args.full and args.only == ["matmul", "sigmoid"] and args.threads == 1 and args.repeat == 3
    args = parser.parse_args(["bench", "report", "a.json", "b.json", "--out-dir", "out"])
    assert args.run is bench_cli.run_report
    assert [str(f) for f in args.files] == ["a.json", "b.json"] and str(args.out_dir) == "out"


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["--only", "matmal"], ["unknown workload 'matmal'", "matmul", "sigmoid_backward", "train_step"]),
        (["--backends", "numbaa"], ["unknown backend 'numbaa'", "mark1-numba", "torch", "cupy"]),
        (["--sizes", "12x"], ["cannot read '12x'", "2^20"]),
        (["--sizes", "0"], ["'0' is not a positive size"]),
        (["--sizes", "2^26"], ["67108864 is too large for matmul", "matmul=N"]),
        (["--sizes", "matmal=64"], ["unknown workload 'matmal'"]),
        (["--only", "dense", "--sizes", "matmul=64"], ["--sizes names matmul, which this run does not include"]),
        (["--threads", "0"], ["--threads must be at least 1"]),
        (["--repeat", "0"], ["--repeat must be at least 1"]),
    ],
)
def test_bad_input_is_a_clear_error_and_runs_nothing(argv, expected, capsys, tmp_path):
    out = tmp_path / "r.json"
    assert cli.main(["bench", *argv, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    for text in expected:
        assert text in err
    assert not out.exists()


def test_unusable_contender_is_skipped_with_its_reason(monkeypatch):
    real = contenders.unavailable_reason
    monkeypatch.setattr(contenders, "unavailable_reason",
                        lambda name: "pretend it is missing" if name == "numpy" else real(name))
    found, skipped = contenders.discover(["numpy"])
    assert [c.name for c in found] == ["numpy"]   # the CPU reference always runs
    assert {"name": "mark1-numpy", "reason": "pretend it is missing"} in skipped


def test_selection_by_backend_name_picks_mark1_backend_and_reference():
    found, _ = contenders.discover(["numpy"])
    assert {c.name for c in found} == {"mark1-numpy", "numpy"}


def test_tiny_end_to_end_run_writes_json_png_and_table(tmp_path, capsys, small_copy):
    out = tmp_path / "run.json"
    code = cli.main(["bench", "--backends", "numpy", "--out", str(out), *TINY])
    assert code == 0
    printed = capsys.readouterr().out
    data = results.load(out)
    assert out.with_suffix(".png").stat().st_size > 10_000
    names = {(f["workload"], f["contender"]) for f in data["figures"]}
    assert names == {(w, c) for w in workloads.WORKLOADS for c in ("mark1-numpy", "numpy")}
    for f in data["figures"]:
        assert f["status"] == "ok", f
        assert f["error"] <= workloads.TOLERANCE and f["value"] > 0 and f["dtype"] == "float32"
        assert f["seconds"]["min"] <= f["seconds"]["median"] <= f["seconds"]["max"]
        assert f["first_call_s"] > 0 and f["repeats"] == 1 and f["number"] >= 1
        assert f["fraction_of_peak"] > 0 and f["reference"] == "numpy"
        if f["contender"] == "numpy":
            assert f["ratio_to_reference"] == pytest.approx(1.0)
    assert data["threads"]["requested"] >= 1
    assert "GFLOP/s" in data["peaks"]["cpu"]["formula"] and data["peaks"]["cpu"]["bytes_per_s"] > 0
    assert data["versions"]["numpy"] and data["hardware"]["cpu_count"] >= 1
    assert "train_step" in printed and "× ref" in printed and "CPU peak" in printed


def test_results_file_round_trips(tmp_path, small_copy):
    from mark1.bench import runner

    data = runner.run(runner.Options(workloads=["sigmoid"], backends=["numpy"], sizes=[(None, 64)], repeat=1,
                                     min_time=0.0005, progress=False), argv=["test"], log=lambda s: None)
    path = results.save(data, tmp_path / "deep" / "r.json")
    assert results.load(path) == json.loads(json.dumps(data))


def test_sizes_for_one_workload_leave_the_others_at_the_suite_sizes():
    from mark1.bench import runner

    opts = runner.Options(workloads=["matmul", "sigmoid"], sizes=workloads.parse_sizes(["matmul=64", "96"]))
    plan = [(w.name, s.label) for w, s in runner.plan(opts)]
    assert plan == [("matmul", "64"), ("matmul", "96"), ("sigmoid", "96")]
    opts = runner.Options(workloads=["matmul", "sigmoid"], sizes=workloads.parse_sizes(["sigmoid=2^10"]))
    plan = [(w.name, s.label) for w, s in runner.plan(opts)]
    assert plan == [("matmul", s.label) for s in workloads.WORKLOADS["matmul"].quick] + [("sigmoid", "2^10")]


def _tiny_options(**kw):
    from mark1.bench import runner

    base = dict(workloads=["sigmoid"], backends=["numpy"], sizes=[(None, 64)], repeat=1, min_time=0.0005,
                progress=False, settle_s=0.0)
    return runner.Options(**{**base, **kw})


def test_a_wrong_contender_is_recorded_not_timed_and_the_file_still_saves(monkeypatch, tmp_path, small_copy):
    from mark1.bench import runner
    from mark1.bench.references import Prepared

    def broken(inp):   # returns NaN: the check must refuse it, and the JSON must still be valid
        out = np.full_like(inp["x"], np.nan)
        return Prepared(lambda: None, lambda: {"y": out})

    real = contenders.discover

    def discover_with_broken(tokens):
        found, skipped = real(tokens)
        for c in found:
            if c.name == "mark1-numpy":
                c.builders = {**c.builders, "sigmoid": broken}
        return found, skipped

    monkeypatch.setattr(runner, "discover", discover_with_broken)
    data = runner.run(_tiny_options(), log=lambda s: None)
    fig = next(f for f in data["figures"] if f["contender"] == "mark1-numpy")
    assert fig["status"] == "wrong" and fig["error"] is None and "NaN" in fig["message"]
    assert fig["value"] is None and "seconds" not in fig and fig["ratio_to_reference"] is None
    results.load(results.save(data, tmp_path / "r.json"))


def test_ctrl_c_keeps_the_figures_measured_so_far(monkeypatch, small_copy):
    from mark1.bench import runner

    real, calls = runner.measure, []

    def measure_then_interrupt(*args):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*args)

    monkeypatch.setattr(runner, "measure", measure_then_interrupt)
    data = runner.run(_tiny_options(), log=lambda s: None)
    assert data["interrupted"] is True and len(data["figures"]) == 1


def test_a_plain_install_without_torch_threadpoolctl_or_rich_still_runs(monkeypatch, tmp_path, capsys, small_copy):
    """`pip install . && mark1 bench` has none of the optional libraries: they are skipped, never a traceback."""
    for optional in ("torch", "threadpoolctl", "rich", "rich.console", "rich.table"):
        monkeypatch.setitem(sys.modules, optional, None)   # makes `import optional` raise ImportError
    monkeypatch.delenv("OPENBLAS_NUM_THREADS", raising=False)
    out = tmp_path / "plain.json"
    assert cli.main(["bench", "--only", "matmul", "--out", str(out), *TINY]) == 0
    printed = capsys.readouterr().out
    assert "skipped torch: PyTorch is not installed" in printed and "Traceback" not in printed
    assert "workload  size" in printed                                # the plain-text table
    data = results.load(out)
    assert "torch" not in data["threads"] and {f["contender"] for f in data["figures"]} >= {"numpy"}
    assert "OPENBLAS_NUM_THREADS" not in printed   # the default, all CPUs, is what OpenBLAS takes by itself


def test_without_threadpoolctl_a_thread_count_numpy_cannot_take_is_said(monkeypatch, tmp_path, capsys, small_copy):
    monkeypatch.setitem(sys.modules, "threadpoolctl", None)
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "3")
    out = tmp_path / "t.json"
    assert cli.main(["bench", "--only", "sigmoid", "--threads", "1", "--out", str(out), *TINY]) == 0
    assert "NumPy's BLAS uses 3 threads, not 1" in capsys.readouterr().out
    assert results.load(out)["threads"]["numpy_blas"] == 3


def test_list_shows_workloads_sizes_and_contenders_and_runs_nothing(capsys, tmp_path):
    out = tmp_path / "never.json"
    assert cli.main(["bench", "--list", "--full", "--only", "sigmoid", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "sigmoid" in printed and "2^16, 2^18, 2^20, 2^22, 2^24, 2^26" in printed and "GB/s" in printed
    assert "numpy" in printed and "cpu:" in printed and "skipped" in printed   # mark1-cuda cannot run here
    assert not out.exists()


def test_an_unwritable_output_is_a_clear_error_after_the_table(tmp_path, capsys, small_copy):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    code = cli.main(["bench", "--only", "sigmoid", "--backends", "numpy", "--out", str(blocker / "r.json"), *TINY])
    captured = capsys.readouterr()
    assert code == 2 and "cannot write the results to" in captured.err and "Traceback" not in captured.err
    assert "sigmoid" in captured.out   # the measurements were still shown
