"""The machine a benchmark ran on: hardware, versions, thread settings and the hardware peaks.

Peaks are stated with how they were obtained, so a reader can check them:
- CPU FLOP/s: cores (min(--threads, CPUs)) × max clock × fp32 FLOP per cycle per core, both from
  mark1.hardware with their sources (the FMA units × width of the detected core; unknown cores get no peak).
- GPU FLOP/s: NVIDIA's published fp32 (non-tensor-core) peak for the device name, from the table below;
  for a device not in it, SMs × clock × fp32 lanes per SM (by compute capability) × 2 from its properties.
- Memory bandwidth: measured, as bytes read + written per second by a large array copy (a STREAM-like copy).
"""

from __future__ import annotations

import importlib
import os
import platform
import re
import time
from functools import cache

import numpy as np

from mark1.hardware import CPUFREQ_MAX, Fact, cpu_count, cpu_facts, cpu_model

COPY_BYTES = 256 * 2**20   # far larger than any cache, so the copy measures DRAM (HBM) bandwidth

# fp32 peak TFLOP/s without tensor cores, from NVIDIA's datasheets; first matching substring wins.
GPU_FP32_TFLOPS: tuple[tuple[str, float, str], ...] = (
    ("H200", 67.0, "NVIDIA H200 Tensor Core GPU datasheet (SXM)"),
    ("H100 PCIe", 51.0, "NVIDIA H100 Tensor Core GPU datasheet (PCIe)"),
    ("H100 NVL", 60.0, "NVIDIA H100 Tensor Core GPU datasheet (NVL)"),
    ("H100", 67.0, "NVIDIA H100 Tensor Core GPU datasheet (SXM)"),
    ("GH200", 67.0, "NVIDIA GH200 Grace Hopper Superchip datasheet"),
    ("A100", 19.5, "NVIDIA A100 Tensor Core GPU datasheet"),
    ("A10G", 31.2, "NVIDIA A10 Tensor Core GPU datasheet"),
    ("A10", 31.2, "NVIDIA A10 Tensor Core GPU datasheet"),
    ("L40S", 91.6, "NVIDIA L40S GPU datasheet"),
    ("L4", 30.3, "NVIDIA L4 Tensor Core GPU datasheet"),
    ("T4", 8.1, "NVIDIA T4 Tensor Core GPU datasheet"),
    ("V100", 15.7, "NVIDIA V100 Tensor Core GPU datasheet (SXM2)"),
    ("RTX 4090", 82.6, "NVIDIA Ada Lovelace architecture whitepaper (RTX 4090)"),
    ("RTX 3090", 35.6, "NVIDIA Ampere GA102 architecture whitepaper (RTX 3090)"),
)


def clock_is_stated() -> bool:
    """Whether cpufreq states the maximum clock: then the peak uses it, and no clock need be measured."""
    return CPUFREQ_MAX in cpu_facts().max_mhz.source


def cpu_peak(threads: int | None = None, measured_mhz: float | None = None) -> dict:
    """Theoretical fp32 FLOP/s of the cores the contenders may use (min(threads, CPUs)), formula spelled out.

    FLOP per cycle per core comes from mark1.hardware's table of FMA datapaths (Zen 4: 32, a 512-bit FMA
    being two 256-bit halves; Sapphire Rapids: 64); the clock from cpufreq's cpuinfo_max_freq, else the
    `measured_mhz` the caller passes (measure_cpu_clock: what the cores run at under load), else /proc/cpuinfo's
    'cpu MHz' (in a VM the base clock: turbo then puts a fraction of peak above 100%). A CPU not in the table,
    or with no clock anywhere, has no peak: flop_per_s is None and the formula says why.
    """
    facts = cpu_facts()
    cores = min(threads or cpu_count(), cpu_count())   # --threads 1 on 16 CPUs can reach one core's peak
    flop, mhz = facts.fp32_flop_per_cycle, facts.max_mhz
    out = {"cores": cores, "mhz": mhz.value, "mhz_source": mhz.source, "flop_per_cycle": flop.value,
           "flop_per_cycle_source": flop.source, "isa": facts.isa}
    if measured_mhz and not clock_is_stated():
        reported = f"; /proc/cpuinfo says {mhz.value:.0f}" if mhz.value else ""
        mhz = Fact(measured_mhz, f"measured: {CLOCK_METHOD}{reported}")
        out.update(mhz=mhz.value, mhz_source=mhz.source, reported_mhz=facts.max_mhz.value)
    if flop.value is None or mhz.value is None:
        missing = [f"FLOP/cycle {flop.source}"] * (flop.value is None) + [f"clock {mhz.source}"] * (mhz.value is None)
        return {**out, "flop_per_s": None, "formula": "unknown: " + "; ".join(missing)}
    gflops = cores * mhz.value / 1000 * flop.value
    formula = (f"{cores} cores × {mhz.value:.0f} MHz [{mhz.source}] × {flop.value} fp32 FLOP/cycle "
               f"[{flop.source}] = {gflops:.1f} GFLOP/s")
    return {**out, "flop_per_s": gflops * 1e9, "formula": formula}


# fp32 lanes per SM by compute capability (CUDA C Programming Guide, "Arithmetic Instructions" throughput table)
FP32_LANES_PER_SM = {"6.0": 64, "7.0": 64, "7.5": 64, "8.0": 64, "8.6": 128, "8.9": 128, "9.0": 128,
                     "10.0": 128, "12.0": 128}


def gpu_peak(name: str, gpu: dict | None = None) -> dict | None:
    """The datasheet peak for a known device name; otherwise SMs × clock × fp32 lanes per SM × 2 if known."""
    for key, tflops, source in GPU_FP32_TFLOPS:
        if key.lower() in name.lower():
            return {"flop_per_s": tflops * 1e12, "formula": f"{tflops} TFLOP/s fp32 for '{key}'", "source": source}
    lanes = FP32_LANES_PER_SM.get((gpu or {}).get("compute_capability", ""))
    if lanes and gpu.get("clock_mhz") and gpu.get("sms"):
        flops = gpu["sms"] * gpu["clock_mhz"] * 1e6 * lanes * 2
        return {"flop_per_s": flops, "source": "device properties",
                "formula": f"{gpu['sms']} SMs × {gpu['clock_mhz']:.0f} MHz × {lanes} fp32 lanes × 2 FLOP/FMA "
                           f"= {flops / 1e12:.1f} TFLOP/s"}
    return None


def _gpu_clock_mhz(runtime) -> float | None:
    try:   # CUDA 13 dropped clockRate from the properties struct; the attribute query still has it (kHz)
        return runtime.deviceGetAttribute(runtime.cudaDevAttrClockRate, 0) / 1000
    except Exception:  # an older CuPy/driver without it: the peak then comes from the table only
        return None


def gpu_unavailable_reason() -> str | None:
    """Why CuPy cannot use a GPU here, or None when one is visible."""
    try:
        import cupy
    except ImportError:
        return "CuPy is not installed"
    try:
        if cupy.cuda.runtime.getDeviceCount() == 0:
            return "no CUDA device visible"
    except Exception as e:  # no driver, or a driver too old for this CuPy
        return f"no usable CUDA driver ({type(e).__name__}: {e})"
    return None


@cache
def gpu_info() -> dict | None:
    if gpu_unavailable_reason():
        return None
    import cupy

    props = cupy.cuda.runtime.getDeviceProperties(0)
    name = props["name"].decode() if isinstance(props["name"], bytes) else str(props["name"])
    driver = cupy.cuda.runtime.driverGetVersion()
    return {"name": name, "memory_bytes": int(props["totalGlobalMem"]),
            "compute_capability": f"{props['major']}.{props['minor']}", "sms": int(props["multiProcessorCount"]),
            "clock_mhz": _gpu_clock_mhz(cupy.cuda.runtime), "cuda_driver": f"{driver // 1000}.{driver % 1000 // 10}"}


def memory_bytes() -> int | None:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def _core_tag() -> str:
    """'-zen-5' for "Zen 5 (server/desktop)", '-sapphire-rapids-class' for "Sapphire Rapids class (AMX)": the
    core's name before any qualifier, empty where the table does not know it or the model name says it."""
    name = cpu_facts().core_name.value
    if not name or name.lower().startswith(("amd ", "intel ")):
        return ""
    tag = _slug(re.split(r" \(| /", name)[0])
    return "" if tag in _slug(cpu_model()) else f"-{tag}"


def _slug(text: str) -> str:
    text = re.sub(r"\((r|tm)\)|\bcpu\b|\bprocessor\b|@.*$", "", text, flags=re.I)
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def machine_slug() -> str:
    """File-name-safe, hostname-free: CPU model, the core where mark1's table names it and the kernel path it
    runs (VMs often report one model name, 'AMD EPYC', for Zen 1 to Zen 5), and core count, plus the GPU's
    name where there is one: amd-epyc-zen-5-avx512-2c."""
    gpu = gpu_info()
    slug = f"{_slug(cpu_model())}{_core_tag()}-{cpu_facts().isa}-{cpu_count()}c"
    return f"{slug}_{_slug(gpu['name'])}" if gpu else slug


def _version(module: str) -> str | None:
    try:
        return importlib.import_module(module).__version__
    except Exception:  # not installed, or fails to import on this machine: either way not part of the run
        return None


def versions() -> dict:
    import mark1

    out = {"python": platform.python_version(), "mark1": mark1.__version__, "numpy": np.__version__}
    for module in ("numba", "cupy", "torch"):
        out[module] = _version(module)
    blas = blas_info()
    out["blas"] = f"{blas['internal_api']} {blas.get('version') or ''}".strip() if blas else None
    gpu = gpu_info()
    out["cuda_driver"] = gpu["cuda_driver"] if gpu else None
    return out


def hardware() -> dict:
    gpu = gpu_info()
    return {"cpu_model": cpu_model(), "cpu_count": cpu_count(), "memory_bytes": memory_bytes(),
            "machine": platform.machine(), "gpu": gpu}


def blas_info() -> dict | None:
    """NumPy's BLAS library and its thread count, via threadpoolctl when it is installed."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return None
    blas = [p for p in threadpool_info() if p.get("user_api") == "blas"]
    return blas[0] if blas else None


_blas_limiter = None   # kept alive: threadpoolctl restores the old limit when its limiter is collected


def set_threads(n: int) -> dict:
    """Give every CPU contender n threads; returns what each library actually uses, for the results file.

    OpenBLAS reads OPENBLAS_NUM_THREADS once, when NumPy is imported; afterwards only threadpoolctl can change
    it. Without threadpoolctl NumPy keeps what the environment gave it (all cores by default).
    """
    global _blas_limiter
    settings = {"requested": n}
    try:
        from threadpoolctl import threadpool_limits

        _blas_limiter = threadpool_limits(limits=n, user_api="blas")
    except ImportError:
        pass
    blas = blas_info()
    # without threadpoolctl: what the environment told OpenBLAS at import, and all CPUs when it said nothing
    env = os.environ.get("OPENBLAS_NUM_THREADS", "").strip()
    settings["numpy_blas"] = blas["num_threads"] if blas else int(env) if env.isdigit() else cpu_count()
    try:
        import numba

        from mark1 import threads  # starts numba's pool as mark1 always does (its threading layer, its wait)

        threads.set_num_threads(min(n, numba.config.NUMBA_NUM_THREADS))
        settings["numba"] = threads.get_num_threads()
        settings["numba_layer"] = numba.threading_layer()
    except ImportError:
        pass
    try:
        import torch
    except ImportError:   # torch is optional: its contenders are skipped with this reason
        pass
    else:
        torch.set_num_threads(n)
        settings["torch"] = torch.get_num_threads()
    return settings


def measure_cpu_bandwidth(repeat: int = 5, nbytes: int | None = None) -> dict:
    """Copy a 256 MiB float32 array; bandwidth counts the bytes read plus the bytes written.

    np.copyto runs on one thread; when numba is installed a parallel copy on all the threads is measured
    too (one core rarely saturates a server's memory), and the faster one is the peak.
    """
    src = np.ones((nbytes or COPY_BYTES) // 4, dtype=np.float32)
    dst = np.empty_like(src)
    methods = {"numpy.copyto (1 thread)": lambda: np.copyto(dst, src)}
    try:
        import numba

        methods[f"numba prange copy ({numba.get_num_threads()} threads)"] = _numba_copy(src, dst)
    except ImportError:
        pass
    results = {}
    for name, copy in methods.items():
        copy()  # first touch and JIT
        best = min(_timed(copy) for _ in range(repeat))
        results[name] = 2 * src.nbytes / best
    method = max(results, key=results.get)
    return {"bytes_per_s": results[method], "method": method, "array_bytes": src.nbytes,
            "all_methods": {k: v / 1e9 for k, v in results.items()}}


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def _numba_copy(src, dst):
    import numba

    @numba.njit(parallel=True)
    def copy(a, b):
        for i in numba.prange(a.size):
            b[i] = a[i]

    return lambda: copy(src, dst)


def measure_gpu_bandwidth(repeat: int = 5, nbytes: int | None = None) -> dict:
    """Device-to-device copy of a 1 GiB CuPy array (HBM, far beyond L2), timed with CUDA events."""
    import cupy

    nbytes = 4 * (nbytes or COPY_BYTES)   # 1 GiB: four times the CPU's array, to stay far beyond the L2 cache
    src = cupy.ones(nbytes // 4, dtype=cupy.float32)
    dst = cupy.empty_like(src)
    dst[...] = src
    times = []
    for _ in range(repeat):
        start, end = cupy.cuda.Event(), cupy.cuda.Event()
        start.record()
        dst[...] = src
        end.record()
        end.synchronize()
        times.append(cupy.cuda.get_elapsed_time(start, end) / 1e3)
    return {"bytes_per_s": 2 * src.nbytes / min(times), "method": "cupy device copy (CUDA events)",
            "array_bytes": src.nbytes}


CLOCK_METHOD = "a dependent xor+add chain (2 cycles an iteration on any x86-64 core) on every thread at once"


def measure_cpu_clock(threads: int, iterations: int = 20_000_000, repeat: int = 5) -> float | None:
    """The clock the cores run at under load, in MHz: each of `threads` threads runs a chain of dependent
    integer xor+add (one cycle each on every x86-64 core, so two a step, whatever the turbo state), and the
    fastest of `repeat` runs counts. For a VM that exposes no cpufreq maximum, where 'cpu MHz' is the base
    clock. None on another architecture or without numba."""
    if platform.machine().lower() not in ("x86_64", "amd64"):
        return None
    try:
        chains = _clock_chains()
    except ImportError:
        return None
    out = np.zeros(max(1, threads), np.uint64)
    chains(1000, out)  # JIT
    best = min(_timed(lambda: chains(iterations, out)) for _ in range(repeat))
    return 2 * iterations / best / 1e6


@cache
def _clock_chains():
    import numba

    @numba.njit(parallel=True)
    def chains(n, out):
        for t in numba.prange(out.size):
            x = np.uint64(t + 1)
            for i in range(n):  # LLVM unrolls it but cannot shorten the chain: xor and add do not reassociate
                x = (x ^ np.uint64(i)) + np.uint64(0x9E3779B97F4A7C15)
            out[t] = x

    return chains
