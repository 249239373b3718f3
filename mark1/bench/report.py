"""`mark1 bench report`: one or more results files side by side, as a markdown table and a PNG plot.

The table has one row per (workload, size, contender) and one column per machine; the plot one panel per
workload (rows) and machine (columns): throughput against problem size per contender, log-log, with the
hardware peak of each device dashed and the spread over repeats as error bars.
"""

from __future__ import annotations

from pathlib import Path

from mark1.bench import results as res
from mark1.bench.table import fmt_fraction, fmt_ratio, fmt_value
from mark1.bench.workloads import WORKLOADS

PEAK_STYLE = {"cpu": dict(color="0.35", linestyle="--"), "gpu": dict(color="black", linestyle=":")}


def _workload_order(name: str) -> int:
    names = list(WORKLOADS)
    return names.index(name) if name in names else len(names)


def _row_keys(runs: list[dict]) -> list[tuple[str, str, str]]:
    seen: dict[tuple[str, str, str], tuple] = {}
    for run in runs:
        for f in run["figures"]:
            key = (f["workload"], f["size"], f["contender"])
            seen.setdefault(key, (_workload_order(f["workload"]), f["x"], f["contender"]))
    return sorted(seen, key=seen.get)


def _cell(f: dict | None) -> str:
    if f is None:
        return "—"
    if f["status"] != "ok":
        return f["status"]
    parts = [f"{fmt_value(f['value'])} {f['unit']}"]
    if f.get("ratio_to_reference") is not None:
        parts.append(f"{fmt_ratio(f['ratio_to_reference'])} {f.get('reference', 'ref')}")
    if f.get("fraction_of_peak") is not None:
        parts.append(f"{fmt_fraction(f['fraction_of_peak'])} of peak")
    return " · ".join(parts)


def machine_lines(run: dict) -> list[str]:
    hw, peaks, v = run["hardware"], run["peaks"], run["versions"]
    gpu = f"; GPU {hw['gpu']['name']}" if hw.get("gpu") else ""
    lines = [f"- **{run['machine']}**: {hw['cpu_model']}, {hw['cpu_count']} CPUs{gpu}; threads {run.get('threads')}; "
             f"suite {run.get('suite', '?')}, measured {run.get('created', '?')}",
             "  - versions: " + ", ".join(f"{k} {val}" for k, val in v.items() if val),
             f"  - CPU peak: {peaks['cpu']['formula']}; memory bandwidth {peaks['cpu']['bytes_per_s'] / 1e9:.1f} GB/s "
             f"({peaks['cpu']['bandwidth_method']})"]
    if peaks.get("gpu"):
        g = peaks["gpu"]
        lines.append(f"  - GPU peak: {g['formula']} (source: {g.get('source')}); bandwidth "
                     f"{g['bytes_per_s'] / 1e9:.0f} GB/s ({g['bandwidth_method']})")
    if run.get("skipped"):
        lines.append("  - not run here: " + "; ".join(f"{s['name']} ({s['reason']})" for s in run["skipped"]))
    return lines


def markdown(runs: list[dict]) -> str:
    """The README table: each cell is throughput · ratio to the same-run reference · fraction of peak."""
    index = [{(f["workload"], f["size"], f["contender"]): f for f in run["figures"]} for run in runs]
    head = ["workload", "size", "contender", *(run["machine"] for run in runs)]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for key in _row_keys(runs):
        lines.append("| " + " | ".join([*key, *(_cell(i.get(key)) for i in index)]) + " |")
    notes = ["", "Throughput is the median over repeats; the ratio is to the same-device reference measured in the "
             "same run (numpy on CPU, cupy/cuBLAS on GPU), higher is faster. The peak of GB/s figures is the measured "
             "DRAM copy bandwidth, so arrays that fit in cache can exceed 100%.", ""]
    return "\n".join(lines + notes + [line for run in runs for line in machine_lines(run)]) + "\n"


def plot(runs: list[dict], path: str | Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    workloads = sorted({f["workload"] for run in runs for f in run["figures"]}, key=_workload_order)
    contenders = sorted({f["contender"] for run in runs for f in run["figures"]})
    colors = {c: plt.cm.tab10(i % 10) for i, c in enumerate(contenders)}
    fig, axes = plt.subplots(len(workloads), len(runs), figsize=(6.4 * len(runs), 3.6 * len(workloads)),
                             squeeze=False, sharey="row")
    for col, run in enumerate(runs):
        for row, name in enumerate(workloads):
            _panel(axes[row][col], run, name, colors)
            if col:
                axes[row][col].set_ylabel("")
    fig.suptitle("mark1 bench: throughput vs problem size\n(median over repeats; bars: slowest–fastest repeat)",
                 fontsize=11)
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.5 / fig.get_figheight()))   # leave half an inch for the title
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _panel(ax, run: dict, workload: str, colors: dict) -> None:
    figs = [f for f in run["figures"] if f["workload"] == workload]
    ok = [f for f in figs if f["status"] == "ok"]
    unit = figs[0]["unit"] if figs else ""
    for contender in sorted({f["contender"] for f in ok}):
        mine = sorted((f for f in ok if f["contender"] == contender), key=lambda f: f["x"])
        series = [f for f in mine if len(set(f.get("dims", ()))) <= 1]   # a size sweep: square n, or one count
        others = [f for f in mine if f not in series]                     # matmul's MLP layer shapes
        _errorbar(ax, series, color=colors[contender], label=contender, marker="o")
        _errorbar(ax, others, color=colors[contender], marker="s", linestyle="none", markerfacecolor="none")
    if any(len(set(f.get("dims", ()))) > 1 for f in ok):
        ax.plot([], [], marker="s", linestyle="none", markerfacecolor="none", color="0.3",
                label="hollow: MLP layer shapes")
    for device, style in PEAK_STYLE.items():
        pts = sorted({(f["x"], f["peak_value"]) for f in ok if f["device"] == device and f.get("peak_value")})
        if not pts:
            continue
        kind = "FLOP/s" if figs[0].get("work_kind") == "flop" else "bandwidth (measured copy)"
        label = f"{device.upper()} peak {kind}"
        if len({p for _, p in pts}) == 1:   # a rate peak: one level for every size
            ax.axhline(pts[0][1], label=label, linewidth=1.2, **style)
        else:                              # steps/s: the peak rate over the work of one step, per batch size
            ax.plot(*zip(*pts, strict=True), label=label, linewidth=1.2, **style)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_title(f"{workload} — {run['machine']}", fontsize=10)
    ax.set_xlabel(figs[0]["x_label"] if figs else "")
    ax.set_ylabel(unit)
    ax.grid(True, which="major", alpha=0.3)
    if ok:
        ax.legend(fontsize=7, loc="best")
    else:
        ax.text(0.5, 0.5, "no results", ha="center", va="center", transform=ax.transAxes)


def _errorbar(ax, figs: list[dict], **style) -> None:
    if not figs:
        return
    ys = [f["value"] for f in figs]
    low = [f["value"] - f.get("value_min", f["value"]) for f in figs]
    high = [f.get("value_max", f["value"]) - f["value"] for f in figs]
    ax.errorbar([f["x"] for f in figs], ys, yerr=[low, high], markersize=4, capsize=2, **style)


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
