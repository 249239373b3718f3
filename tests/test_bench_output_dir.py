"""Where `mark1 bench` writes by default: ./mark1-bench/ for an installed user, bench/results/ in the source tree."""

from __future__ import annotations

from pathlib import Path

from mark1.bench import cli as bench_cli

REPO = Path(bench_cli.__file__).resolve().parents[2]


def test_outside_a_source_tree_results_go_to_mark1_bench_in_the_current_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert bench_cli.default_results_dir() == tmp_path.resolve() / "mark1-bench"


def test_inside_the_source_tree_results_go_to_its_bench_results(monkeypatch):
    if bench_cli.source_tree(REPO) is None:
        return   # an installed copy of the tests: there is no source tree to be inside
    monkeypatch.chdir(REPO / "tests")
    assert bench_cli.default_results_dir() == REPO / "bench" / "results"


def test_a_folder_named_like_the_tree_without_its_pyproject_is_not_one(tmp_path):
    (tmp_path / "mark1" / "bench").mkdir(parents=True)
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "other"\n')
    assert bench_cli.source_tree(tmp_path) is None


def test_isolate_measures_each_contender_in_its_own_process_with_the_thread_variables_set(tmp_path, monkeypatch):
    from mark1.bench import isolate, runner

    seen = []
    real_run = isolate.subprocess.run

    def spy(command, env):
        seen.append({var: env[var] for var in isolate.THREAD_VARS})
        return real_run(command, env=env)

    monkeypatch.setattr(isolate.subprocess, "run", spy)
    options = runner.Options(workloads=["sigmoid"], backends=["numpy"], sizes=[(None, 64)], repeat=1,
                             min_time=0.0005, progress=False, settle_s=0, threads=1, isolate=True,
                             copy_bytes=1 << 20)
    data = runner.run(options, log=lambda line: None)
    assert [f["contender"] for f in data["figures"]] == ["mark1-numpy", "numpy"]
    assert all(f["status"] == "ok" for f in data["figures"])
    assert data["figures"][1]["ratio_to_reference"] == 1.0 and data["figures"][0]["ratio_to_reference"] > 0
    assert seen == [dict.fromkeys(isolate.THREAD_VARS, "1")] * 2
