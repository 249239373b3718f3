"""The PNG of `mark1 bench report`: one row per workload, two columns per machine.

Left panel: throughput against problem size per contender, log-log, the spread over repeats as error bars,
matmul's MLP layer shapes as hollow squares apart from the square sweep, and each device's peak as a line.
Right panel: the ratio view, each contender's figure ÷ the same-device reference's measured in the same run
(1 = level with NumPy on the CPU, cuBLAS on the GPU), so who wins is visible at a glance.
"""

from __future__ import annotations

from pathlib import Path

from mark1.bench.workloads import workload_order

PEAK_STYLE = {"cpu": dict(color="0.35", linestyle="--"), "gpu": dict(color="black", linestyle=":")}


def plot(runs: list[dict], path: str | Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    workloads = sorted({f["workload"] for run in runs for f in run["figures"]}, key=workload_order)
    contenders = sorted({f["contender"] for run in runs for f in run["figures"]})
    colors = {c: plt.cm.tab10(i % 10) for i, c in enumerate(contenders)}
    fig, axes = plt.subplots(len(workloads), 2 * len(runs), figsize=(6.4 * 2 * len(runs), 3.6 * len(workloads)),
                             squeeze=False)
    for col, run in enumerate(runs):
        for row, name in enumerate(workloads):
            _panel(axes[row][2 * col], run, name, colors)
            _ratio_panel(axes[row][2 * col + 1], run, name, colors)
    fig.suptitle("mark1 bench: throughput vs problem size (left) and ÷ the same-run reference (right)\n"
                 "(median over repeats; bars: slowest–fastest repeat)", fontsize=11)
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
        kind = {"flop": "FLOP/s", "byte": "bandwidth (measured copy)"}.get(figs[0].get("work_kind"), "")
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


def _ratio_panel(ax, run: dict, workload: str, colors: dict) -> None:
    ok = [f for f in run["figures"] if f["workload"] == workload and f["status"] == "ok"
          and f.get("ratio_to_reference")]
    references = sorted({f["reference"] for f in ok if f.get("reference")})
    for contender in sorted({f["contender"] for f in ok} - set(references)):
        mine = sorted((f for f in ok if f["contender"] == contender), key=lambda f: f["x"])
        series = [f for f in mine if len(set(f.get("dims", ()))) <= 1]
        others = [f for f in mine if f not in series]
        for figs, style in ((series, dict(marker="o", label=contender)),
                            (others, dict(marker="s", linestyle="none", markerfacecolor="none"))):
            if figs:
                ax.plot([f["x"] for f in figs], [f["ratio_to_reference"] for f in figs], color=colors[contender],
                        markersize=4, **style)
    ax.axhline(1.0, color="black", linewidth=1.0, label=f"= {' / '.join(references) or 'reference'}")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_title(f"{workload} — {run['machine']}: ÷ reference", fontsize=10)
    ax.set_xlabel(next((f["x_label"] for f in ok), ""))
    ax.set_ylabel("× reference (higher is faster)")
    ax.grid(True, which="both", alpha=0.3)
    if ok:
        ax.legend(fontsize=7, loc="best")
    else:
        ax.text(0.5, 0.5, "no ratios", ha="center", va="center", transform=ax.transAxes)


def _errorbar(ax, figs: list[dict], **style) -> None:
    if not figs:
        return
    ys = [f["value"] for f in figs]
    low = [f["value"] - (f.get("value_min") or f["value"]) for f in figs]   # a file may leave the spread out
    high = [(f.get("value_max") or f["value"]) - f["value"] for f in figs]
    ax.errorbar([f["x"] for f in figs], ys, yerr=[low, high], markersize=4, capsize=2, **style)


