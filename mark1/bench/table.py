"""The console table of one run: rich when it is installed, aligned plain text otherwise."""

from __future__ import annotations

import math
import shutil

HEADERS = ("workload", "size", "contender", "throughput", "spread (min–max)", "× ref", "× torch", "% peak",
           "first call")


def fmt_value(v: float | None) -> str:
    if v is None:
        return "—"
    return f"{v:,.0f}" if v >= 100 else f"{v:.3g}"


def fmt_ratio(r: float | None) -> str:
    return "—" if r is None else f"{r:.2f}×"


def fmt_fraction(f: float | None) -> str:
    return "—" if f is None else f"{100 * f:.1f}%" if f >= 0.001 else f"{100 * f:.2g}%"


def fmt_seconds(s: float | None) -> str:
    if s is None:
        return "—"
    return f"{s:.2f} s" if s >= 1 else f"{s * 1e3:.3g} ms" if s >= 1e-3 else f"{s * 1e6:.3g} µs"


def fmt_threads(threads: dict | None) -> str:
    """{'requested': 2, 'numpy_blas': 2, 'torch': 2} -> '2 (numpy_blas 2, torch 2)'."""
    if not isinstance(threads, dict):
        return "not recorded" if threads is None else str(threads)
    used = ", ".join(f"{k} {v}" for k, v in threads.items() if k != "requested")
    return f"{threads.get('requested', '?')}" + (f" ({used})" if used else "")


def geomean_ratios(results: dict) -> dict[str, tuple[float, int]]:
    """Per contender: the geometric mean of its ratios to the reference over its figures, and how many."""
    logs: dict[str, list[float]] = {}
    for f in results["figures"]:
        ratio = f.get("ratio_to_reference")
        if f["status"] == "ok" and ratio and f["contender"] != f.get("reference"):
            logs.setdefault(f["contender"], []).append(math.log(ratio))
    return {name: (math.exp(sum(v) / len(v)), len(v)) for name, v in logs.items()}


def summary(results: dict) -> str:
    parts = [f"{name} {fmt_ratio(g)} over {n} figure{'s' if n > 1 else ''}"
             for name, (g, n) in sorted(geomean_ratios(results).items())]
    return "geometric mean of × ref: " + "; ".join(parts) if parts else ""


def rows(results: dict) -> list[tuple[str, ...]]:
    out = []
    for f in results["figures"]:
        if f["status"] != "ok":   # the reason is listed under the table, where a long message fits
            out.append((f["workload"], f["size"], f["contender"], f["status"], "see below", "", "", "", ""))
            continue
        out.append((
            f["workload"], f["size"], f["contender"], f"{fmt_value(f['value'])} {f['unit']}",
            f"{fmt_value(f.get('value_min'))}–{fmt_value(f.get('value_max'))}",
            fmt_ratio(f.get("ratio_to_reference")), fmt_ratio(f.get("ratio_to_torch")),
            fmt_fraction(f.get("fraction_of_peak")), fmt_seconds(f.get("first_call_s")),
        ))
    return out


def hardware_line(results: dict) -> str:
    """'AMD EPYC, 2 CPUs, GPU NVIDIA H100 80GB HBM3': whatever the file knows (a GPU-only run may omit the CPU)."""
    hw = results.get("hardware") or {}
    cpus = f", {hw['cpu_count']} CPUs" if hw.get("cpu_count") else ""
    gpu = f", GPU {hw['gpu']['name']}" if (hw.get("gpu") or {}).get("name") else ""
    return f"{hw.get('cpu_model') or 'unknown CPU'}{cpus}{gpu}"


def peak_lines(results: dict) -> list[str]:
    """One line per device with a peak in the file: the FLOP/s formula and its source, the measured bandwidth."""
    out = []
    for device in ("cpu", "gpu"):
        peak = (results.get("peaks") or {}).get(device)
        if not peak:
            continue
        source = f" (source: {peak['source']})" if peak.get("source") else ""
        bandwidth = f"{peak['bytes_per_s'] / 1e9:.1f} GB/s" if peak.get("bytes_per_s") else "not measured"
        method = f" ({peak['bandwidth_method']})" if peak.get("bandwidth_method") else ""
        out.append(f"{device.upper()} peak: {peak.get('formula') or 'unknown'}{source}; memory bandwidth "
                   f"{bandwidth}{method}")
    return out


def caption(results: dict) -> str:
    lines = [f"{results['machine']}: {hardware_line(results)}", f"threads: {fmt_threads(results.get('threads'))}",
             *peak_lines(results)]
    if summary(results):
        lines.append(summary(results))
    for f in results["figures"]:
        if f["status"] != "ok":
            lines.append(f"{f['status']}: {f['workload']} {f['size']} {f['contender']}: {f.get('message')}")
    lines.append("× ref: throughput over the same-device reference in this run (numpy on CPU, cupy on GPU); "
                 "higher is faster. Spread: throughput at the slowest and fastest repeat. % peak of GB/s is of "
                 "the measured DRAM copy: arrays that fit in cache can exceed 100%.")
    return "\n".join(lines)


def render_plain(results: dict) -> str:
    table = [HEADERS, *rows(results)]
    widths = [max(len(r[i]) for r in table) for i in range(len(HEADERS))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip() for r in table]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join([*lines, "", caption(results)])


def print_table(results: dict, plain: bool = False) -> None:
    try:
        if plain:
            raise ImportError
        from rich.console import Console
        from rich.table import Table
    except ImportError:
        print(render_plain(results))
        return
    table = Table(*HEADERS, title=f"mark1 bench — {results['machine']}", caption=caption(results),
                  caption_justify="left")
    last = None
    for r in rows(results):
        if last is not None and r[0] != last:
            table.add_section()
        last = r[0]
        table.add_row(*r)
    Console(width=max(150, shutil.get_terminal_size().columns)).print(table)   # narrower truncates the names
