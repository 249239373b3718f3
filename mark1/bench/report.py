"""`mark1 bench report`: one or more results files side by side, as markdown tables and a PNG plot.

Markdown: with several files, first one table of the machines side by side (per workload and size, the
fastest mark1 backend and its ratio to that machine's reference); then per machine one table with a column
per contender. The PNG (plots.py): one panel per workload and machine.
"""

from __future__ import annotations

from pathlib import Path

from mark1.bench import results as res
from mark1.bench.contenders import REFERENCE_NAMES
from mark1.bench.plots import plot
from mark1.bench.table import fmt_fraction, fmt_ratio, fmt_threads, fmt_value, hardware_line, peak_lines, summary
from mark1.bench.workloads import workload_order

CELL_NOTE = ("Each cell: median throughput · ratio to the reference measured in the same run, named in the "
             "'ratio to' column (numpy on CPU, cupy/cuBLAS on GPU; higher is faster) · fraction of the hardware peak "
             "(GB/s figures: of the measured DRAM copy bandwidth, which arrays that fit in cache can exceed).")


def _size_rows(runs: list[dict]) -> list[tuple[str, str]]:
    """(workload, size) in suite order: workloads as listed, square sweeps by size, then the layer shapes."""
    seen: dict[tuple[str, str], tuple] = {}
    for run in runs:
        for f in run["figures"]:
            shape = len(set(f.get("dims", ()))) > 1
            seen.setdefault((f["workload"], f["size"]), (workload_order(f["workload"]), shape, f["x"]))
    return sorted(seen, key=seen.get)


def _contender_order(names: set[str]) -> list[str]:
    def key(name: str) -> tuple:
        if name.startswith("mark1-"):
            return (0, name)
        return (1, REFERENCE_NAMES.index(name) if name in REFERENCE_NAMES else len(REFERENCE_NAMES), name)

    return sorted(names, key=key)


def _cell(f: dict | None) -> str:
    if f is None:
        return "—"
    if f["status"] != "ok":
        return f["status"]
    parts = [f"{fmt_value(f['value'])} {f['unit']}"]
    if f.get("ratio_to_reference") is not None:
        parts.append(fmt_ratio(f["ratio_to_reference"]))
    if f.get("fraction_of_peak") is not None:
        parts.append(fmt_fraction(f["fraction_of_peak"]))
    return " · ".join(parts)


def _best_mark1_cell(figs: list[dict]) -> str:
    ok = [f for f in figs if f["status"] == "ok" and f["contender"].startswith("mark1-")]
    if not ok:
        return "—"
    best = max(ok, key=lambda f: f["value"])
    ratio = best.get("ratio_to_reference")
    versus = f" · {fmt_ratio(ratio)} {best.get('reference')}" if ratio is not None else ""
    return f"{best['contender']} {fmt_value(best['value'])} {best['unit']}{versus}"


def _reference(run: dict, workload: str, size: str) -> str:
    """The contender this row's ratios are taken to (numpy/cupy in `mark1 bench`; a GPU script may choose others)."""
    refs = {f.get("reference") for f in run["figures"]
            if (f["workload"], f["size"]) == (workload, size) and f.get("ratio_to_reference") is not None}
    refs.discard(None)
    return ", ".join(sorted(refs)) or "—"


def _table(head: list[str], rows: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(head) + " |", "|" + "---|" * len(head), *("| " + " | ".join(r) + " |" for r in rows)]


def machine_lines(run: dict) -> list[str]:
    versions = run.get("versions") or {}
    lines = [f"{hardware_line(run)}; threads {fmt_threads(run.get('threads'))}; "
             f"suite {run.get('suite', '?')}, measured {run.get('created', '?')}", "",
             "- versions: " + ", ".join(f"{k} {val}" for k, val in versions.items() if val),
             *(f"- {line}" for line in peak_lines(run))]
    if run.get("skipped"):
        lines.append("- not run here: " + "; ".join(f"{s['name']} ({s['reason']})" for s in run["skipped"]))
    if summary(run):
        lines.append(f"- {summary(run)}")
    if run.get("interrupted"):
        lines.append("- **interrupted**: this run was stopped before the end")
    return lines


def markdown(runs: list[dict]) -> str:
    """The tables the README embeds (see the module docstring)."""
    rows = _size_rows(runs)
    out: list[str] = []
    if len(runs) > 1:
        out += ["### Machines side by side", "", "The fastest mark1 backend on each machine, and its ratio to "
                "that machine's reference.", ""]
        body = [[w, s, *(_best_mark1_cell([f for f in run["figures"] if (f["workload"], f["size"]) == (w, s)])
                         for run in runs)] for w, s in rows]
        out += _table(["workload", "size", *(run["machine"] for run in runs)], body) + [""]
    for run in runs:
        index = {(f["workload"], f["size"], f["contender"]): f for f in run["figures"]}
        names = _contender_order({f["contender"] for f in run["figures"]})
        mine = [(w, s) for w, s in rows if any((w, s, c) in index for c in names)]
        body = [[w, s, _reference(run, w, s), *(_cell(index.get((w, s, c))) for c in names)] for w, s in mine]
        out += [f"### {run['machine']}", "", *machine_lines(run), ""]
        out += _table(["workload", "size", "ratio to", *names], body) + [""]
    return "\n".join([*out, CELL_NOTE]) + "\n"


def load_all(paths: list[str | Path]) -> list[dict]:
    runs = [res.load(p) for p in paths]
    names = [r["machine"] for r in runs]
    for i, run in enumerate(runs):      # two files from one machine: tell the columns apart by file name
        if names.count(run["machine"]) > 1:
            run["machine"] = f"{run['machine']} ({Path(paths[i]).stem})"
    return runs


def write_report(paths: list[str | Path], out_dir: str | Path) -> tuple[Path, Path]:
    runs = load_all(paths)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    md = out_dir / "report.md"
    md.write_text(markdown(runs))
    return md, plot(runs, out_dir / "report.png")
