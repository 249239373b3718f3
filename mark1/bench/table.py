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
        return str(threads)
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
    parts = [f"{name} {fmt_ratio(g)} over {n} figures" for name, (g, n) in sorted(geomean_ratios(results).items())]
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


def caption(results: dict) -> str:
    hw, peaks = results["hardware"], results["peaks"]
    cpu = peaks["cpu"]
    lines = [
        f"{results['machine']}: {hw['cpu_model']}, {hw['cpu_count']} CPUs"
        + (f", GPU {hw['gpu']['name']}" if hw.get("gpu") else ""),
        f"threads: {fmt_threads(results.get('threads'))}",
        f"CPU peak: {cpu['formula']}; memory bandwidth {cpu['bytes_per_s'] / 1e9:.1f} GB/s "
        f"({cpu['bandwidth_method']})",
    ]
    if peaks.get("gpu"):
        gpu = peaks["gpu"]
        lines.append(f"GPU peak: {gpu['formula']} ({gpu.get('source')}); bandwidth "
                     f"{gpu['bytes_per_s'] / 1e9:.0f} GB/s ({gpu['bandwidth_method']})")
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
