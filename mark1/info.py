"""`mark1 info`: versions, every backend with "usable" or the reason it is not, CPU, GPU and the kernel cache."""

from __future__ import annotations

import argparse
import importlib
import platform
from importlib import metadata

from mark1 import cache
from mark1.backends import PRIORITY, backend_module, unavailable_reason
from mark1.hardware import CPUFREQ_MAX, CpuFacts, cpu_count, cpu_facts, cpu_model

PACKAGES = ("numpy", "numba", "numba-cuda", "cupy-cuda13x", "scipy", "torch")


def package_version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def gpu_name() -> str | None:
    """The first CUDA device's name, or None when no usable GPU is visible."""
    if backend_module("cuda").gpu_unavailable_reason() is not None:
        return None
    try:
        cupy = importlib.import_module("cupy")
        props = cupy.cuda.runtime.getDeviceProperties(0)
        name = props["name"]
        return name.decode() if isinstance(name, bytes) else str(name)
    except Exception as e:  # a half-working driver: report it rather than crash `info`
        return f"unknown ({type(e).__name__}: {e})"


def report() -> dict:
    from mark1 import __version__

    return {
        "mark1": __version__,
        "python": platform.python_version(),
        "packages": {name: package_version(name) for name in PACKAGES},
        "backends": {name: unavailable_reason(name) or "usable" for name in PRIORITY},
        "cpu": f"{cpu_model()} ({cpu_count()} cores available)",
        "gpu": gpu_name() or "none",
        "cache": cache.describe(),
        "cpu_detected": cpu_facts().as_dict(),
        "cpu_kernels": kernel_params(),
    }


def kernel_params() -> dict:
    """The numba kernels' table row for this process (params.py), or why it cannot be chosen."""
    try:
        from mark1.kernels.cpu.params import PARAMS
    except Exception as e:  # numba missing, or MARK1_ISA asks for what this CPU lacks: say so, don't crash
        return {"unavailable": f"{type(e).__name__}: {e}"}
    return PARAMS.__dict__.copy()


def _fmt_bytes(n) -> str:
    return "unknown" if n is None else f"{n >> 20} MiB" if n >= 1 << 20 else f"{n >> 10} KiB"


def cpu_lines(facts: CpuFacts, kernels: dict) -> list[str]:
    """What the kernels detect, each number with its source."""
    flop = facts.fp32_flop_per_cycle
    lines = [
        f"  vendor/family/model  {facts.vendor} {facts.family} {facts.model} -> {facts.core_name.value}",
        f"  vector isa           {facts.isa} ({facts.vector_bits}-bit); "
        f"flags {' '.join(sorted(f for f in facts.flags if f.startswith(('avx', 'fma', 'amx')))) or 'none'}",
        f"  fp32 FLOP/cycle/core {flop.value if flop.value is not None else 'unknown'} ({flop.source})",
    ]
    for label, fact in (("L1d", facts.l1d), ("L2", facts.l2), ("L3", facts.l3)):
        lines.append(f"  {label:<20} {_fmt_bytes(fact.value)} ({fact.source})")
    mhz = facts.max_mhz
    lines.append(f"  cores                {facts.cores.value} ({facts.cores.source})")
    measured = "" if CPUFREQ_MAX in mhz.source else "; mark1 bench measures the clock under load"
    lines.append(f"  max clock            {'unknown' if mhz.value is None else f'{mhz.value:.0f} MHz'} "
                 f"({mhz.source}{measured})")
    if "unavailable" in kernels:
        lines.append(f"  numba kernels        {kernels['unavailable']}")
    else:
        lines.append(f"  numba kernels        {kernels['isa']}: tile {kernels['mr']}x{kernels['nr_f32']} float32, "
                     f"{kernels['mr']}x{kernels['nr_f64']} float64, KC {kernels['kc']}, "
                     f"MC {kernels['mc_panels'] * kernels['mr']} rows ({kernels['source']})")
        lines.append(f"  numba threads        {_thread_line()}")
    return lines


def _thread_line() -> str:
    import numba

    from mark1.kernels.cpu import workers

    count = numba.config.NUMBA_NUM_THREADS
    where = ("the GEMM and contiguous activations on mark1's workers, other parallel kernels on numba's layer"
             if workers.AVAILABLE else "every parallel kernel on numba's layer (mark1's workers need Linux x86-64)")
    return f"{count} (NUMBA_NUM_THREADS; m1.set_num_threads lowers it): {where}"


def render(info: dict) -> str:
    lines = [f"mark1 {info['mark1']} on Python {info['python']}", "", "packages:"]
    lines += [f"  {name:<14} {version}" for name, version in info["packages"].items()]
    lines += ["", "backends (auto picks the first usable one):"]
    lines += [f"  {name:<7} {status}" for name, status in info["backends"].items()]
    lines += ["", f"cpu: {info['cpu']}", *cpu_lines(cpu_facts(), info["cpu_kernels"]), f"gpu: {info['gpu']}",
              cache.render(info["cache"])]
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    info = report()
    if args.json:
        import json

        print(json.dumps(info, indent=2))
    else:
        print(render(info))
    return 0


def register(subparsers) -> None:
    parser = subparsers.add_parser("info", help="versions, usable backends, CPU, GPU and the kernel cache")
    parser.add_argument("--json", action="store_true", help="print the same facts as JSON")
    parser.set_defaults(run=run)
