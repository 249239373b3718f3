"""`mark1 bench [options]` runs the suite; `mark1 bench report [files...]` draws results side by side."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from mark1.hardware import cpu_count

RESULTS_DIR = Path("bench") / "results"   # inside a mark1 source tree
USER_RESULTS_DIR = Path("mark1-bench")      # anywhere else, in the current directory


def source_tree(start: Path | None = None) -> Path | None:
    """The mark1 source tree holding `start` (default: the current directory), or None."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        pyproject = folder / "pyproject.toml"
        if (folder / "mark1" / "bench").is_dir() and pyproject.is_file() and 'name = "mark1"' in pyproject.read_text():
            return folder
    return None


def default_results_dir() -> Path:
    """bench/results/ of the source tree when run inside one (the committed results live there), else
    ./mark1-bench/: an installed user's `mark1 bench` never scatters folders named bench/ around."""
    tree = source_tree()
    return tree / RESULTS_DIR if tree else Path.cwd() / USER_RESULTS_DIR

EPILOG = """\
threads: every CPU contender gets --threads threads (default: all CPUs, so each uses the whole machine).
  NumPy's OpenBLAS reads OPENBLAS_NUM_THREADS once, when NumPy is imported; mark1 bench changes it at run
  time through threadpoolctl when that is installed, otherwise export OPENBLAS_NUM_THREADS=N yourself.
  torch.set_num_threads and numba.set_num_threads are set directly. The counts used go into the JSON.
--backends: names of contenders (mark1-numba, numpy, torch, torch-cuda, cupy, ...) or of mark1 backends
  (numba selects mark1-numba; numpy selects mark1-numpy and the numpy reference). The reference of each
  device (numpy on CPU, cupy on GPU) always runs: every ratio is taken against it.
--sizes: one integer per size, read per workload: matmul n (n×n·n×n), sigmoid elements (2^20 works),
  dense/train_step batch size. workload=N gives a size to that workload only, and a workload given no
  size keeps the suite's: --only matmul,sigmoid --sizes matmul=4096,sigmoid=2^26.
"""


def _csv(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "bench", help="benchmark mark1's kernels against NumPy, PyTorch and CuPy on this machine",
        description="Run the benchmark suite (quick by default, under 3 minutes on 2 cores), print a table "
                    "and write <machine>.json and a PNG plot into ./mark1-bench/ (bench/results/ when run "
                    "inside the mark1 source tree).",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--full", action="store_true", help="every size (matmul up to 4096, sigmoid up to 2^26)")
    p.add_argument("--gpu", action="store_true", help="the GPU run (bench/gpu_run.sh): only GPU contenders, at GPU "
                                                      "sizes (matmul up to 8192, sigmoid 2^28, launch, train_step)")
    p.add_argument("--only", type=_csv, metavar="W1,W2", help="workloads: matmul,sigmoid,sigmoid_backward,dense,"
                                                               "train_step")
    p.add_argument("--backends", type=_csv, metavar="B1,B2", help="contenders to run (see below)")
    p.add_argument("--sizes", type=_csv, metavar="N1,N2", help="override the sizes (see below)")
    p.add_argument("--threads", type=int, default=cpu_count(), help="CPU threads for every contender "
                                                                    "(default: all, here %(default)s)")
    p.add_argument("--repeat", type=int, default=5, help="timed repeats per figure (default %(default)s)")
    p.add_argument("--min-time", type=float, default=None,
                   help="seconds one repeat lasts at least (default 0.05, 0.2 with --full)")
    p.add_argument("--isolate", action="store_true", help="each contender in its own process, every library's "
                                                          "thread variables set to --threads before it starts")
    p.add_argument("--out", type=Path, help="results file (*.json), or a folder for <machine>.json (default "
                                            "mark1-bench/<machine>.json, bench/results/ inside the source tree)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--plain", action="store_true", help="plain-text table even when rich is installed")
    p.add_argument("--list", action="store_true", help="list the workloads, their sizes and the contenders "
                                                       "usable here (with the reason for the others); run nothing")
    p.set_defaults(run=run_bench)
    sub = p.add_subparsers(dest="bench_command", metavar="{report}")
    r = sub.add_parser("report", help="render results files side by side: markdown table + PNG plot",
                       description="Render one or more results files side by side: report.md (a markdown "
                                   "table) and report.png (throughput vs size, one panel per workload and "
                                   "machine).")
    r.add_argument("files", nargs="*", type=Path, help="results JSON files (default: *.json in the "
                                                                    "results folder, as for `mark1 bench`)")
    r.add_argument("--out-dir", type=Path, help="where to write report.md and report.png (default: the results "
                                                "folder)")
    r.set_defaults(run=run_report)


def _fail(message: str) -> int:
    print(f"mark1 bench: error: {message}", file=sys.stderr)
    return 2


def options_from_args(args: argparse.Namespace):
    """Options for the runner; bad names or numbers raise ValueError before anything is measured."""
    from mark1.bench import contenders, runner, workloads

    if args.threads < 1:
        raise ValueError(f"--threads must be at least 1, got {args.threads}")
    if args.repeat < 1:
        raise ValueError(f"--repeat must be at least 1, got {args.repeat}")
    if args.gpu:
        from mark1.bench import gpu

        args.backends = args.backends or list(gpu.GPU_CONTENDERS)
        args.sizes = args.sizes or list(gpu.GPU_SIZES)
        args.only = args.only or list(dict.fromkeys(token.split("=")[0] for token in gpu.GPU_SIZES))
    contenders.check_selection(args.backends)
    sizes = workloads.parse_sizes(args.sizes) if args.sizes else None
    options = runner.Options(workloads=args.only, backends=args.backends, sizes=sizes, full=args.full,
                             threads=args.threads, repeat=args.repeat, progress=not args.no_progress,
                             isolate=args.isolate,
                             min_time=args.min_time if args.min_time is not None else 0.2 if args.full else 0.05)
    runner.plan(options)  # checks the workload names
    return options


def run_bench(args: argparse.Namespace) -> int:
    from mark1.bench import plots, results, runner, table

    try:
        options = options_from_args(args)
    except ValueError as e:
        return _fail(str(e))
    if args.list:
        print(listing(options))
        return 0
    data = runner.run(options, argv=["mark1", *sys.argv[1:]])
    out = args.out or default_results_dir()
    if out.suffix != ".json":   # a folder
        out = out / f"{data['machine']}.json"
    table.print_table(data, plain=args.plain)
    try:
        path = results.save(data, out)
        png = plots.plot([data], path.with_suffix(".png"))
    except OSError as e:
        return _fail(f"cannot write the results to {out}: {e.strerror or e}")
    print(f"\nwrote {path.resolve()}\n  and {png.resolve()}")
    wrong = [f for f in data["figures"] if f["status"] == "wrong"]
    if wrong:
        print(f"{len(wrong)} figure(s) failed the correctness check: see the table", file=sys.stderr)
        return 1
    return 0


def listing(options) -> str:
    """What `mark1 bench` with these options would run, and what it cannot run here."""
    from mark1.bench import contenders, runner

    lines = ["workloads (size labels; unit):"]
    plan = runner.plan(options)
    for workload in dict.fromkeys(w for w, _ in plan):
        sizes = ", ".join(s.label for w, s in plan if w is workload)
        lines.append(f"  {workload.name:<17} {sizes}  ({workload.unit}) — {workload.description}")
    found, skipped = contenders.discover(options.backends)
    lines.append("contenders:")
    lines += [f"  {c.name:<22} {c.device}: {c.description}" for c in found]
    lines += [f"  {s['name']:<22} skipped: {s['reason']}" for s in skipped]
    return "\n".join(lines)


def run_report(args: argparse.Namespace) -> int:
    from mark1.bench import report
    from mark1.bench.results import ResultsFileError

    folder = default_results_dir()
    files = args.files or sorted(folder.glob("*.json"))
    if not files:
        return _fail(f"no results files given and none in {folder}/; run `mark1 bench` first")
    out_dir = args.out_dir or folder
    try:
        md, png = report.write_report(files, out_dir)
    except ResultsFileError as e:
        return _fail(str(e))
    except OSError as e:
        return _fail(f"cannot write the report to {out_dir}: {e.strerror or e}")
    print(md.read_text())
    print(f"wrote {md.resolve()}\n  and {png.resolve()}")
    return 0
