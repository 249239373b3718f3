"""`mark1 info`: versions, every backend with "usable" or the reason it is not, CPU, GPU and the kernel cache."""

from __future__ import annotations

import argparse
import importlib
import platform
from importlib import metadata

from mark1 import cache
from mark1.backends import PRIORITY, backend_module, unavailable_reason
from mark1.hardware import cpu_count, cpu_model

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
    }


def render(info: dict) -> str:
    lines = [f"mark1 {info['mark1']} on Python {info['python']}", "", "packages:"]
    lines += [f"  {name:<14} {version}" for name, version in info["packages"].items()]
    lines += ["", "backends (auto picks the first usable one):"]
    lines += [f"  {name:<7} {status}" for name, status in info["backends"].items()]
    lines += ["", f"cpu: {info['cpu']}", f"gpu: {info['gpu']}", cache.render(info["cache"])]
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
