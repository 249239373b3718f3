"""Running the suite: peaks first, then every (workload, size, contender): check, time, record.

For each size the inputs are drawn once and the oracle computed once; each contender then makes one call
(timed on its own: the first call, JIT included), its result is compared with the oracle, and only a
correct contender is timed in steady state. Ratios are taken at the end against the same-device reference
measured in this run.
"""

from __future__ import annotations

import datetime
import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from mark1.bench import machine
from mark1.bench import workloads as wl
from mark1.bench.contenders import REFERENCE, TORCH, Contender, discover
from mark1.bench.results import SCHEMA
from mark1.bench.table import fmt_threads
from mark1.bench.timing import first_call, steady_state


@dataclass
class Options:
    workloads: list[str] | None = None     # None: all
    backends: list[str] | None = None      # None: every usable contender
    sizes: list[tuple[str | None, int]] | None = None   # (workload or None for all, n); None: the suite's
    full: bool = False
    threads: int = 1
    repeat: int = 5
    min_time: float = 0.05                 # seconds per repeat at least (calls are batched to reach it)
    progress: bool = True
    copy_bytes: int | None = None          # bandwidth benchmark array size (None: machine.COPY_BYTES)
    settle_s: float = 0.1                  # idle before each figure: see measure()
    isolate: bool = False                  # each contender in its own process (mark1/bench/isolate.py)
    exact: bool = False                    # run exactly the contenders named in backends (an isolated child)
    peaks: dict | None = None              # peaks measured already (by an isolated run's parent)

    @property
    def suite(self) -> str:
        return "custom" if self.sizes else "full" if self.full else "quick"


def plan(options: Options) -> list[tuple[wl.Workload, wl.Size]]:
    """(workload, size) pairs to run, in order; bad names and sizes raise ValueError before anything runs."""
    pairs = []
    chosen = wl.select(options.workloads)
    named = {name for name, _ in options.sizes or () if name}
    outside = named - {w.name for w in chosen}
    if outside:
        raise ValueError(f"--sizes names {', '.join(sorted(outside))}, which this run does not include (--only)")
    for workload in chosen:
        if options.sizes:
            mine = [n for name, n in options.sizes if name in (None, workload.name)]
            sizes = [workload.size_from_int(n) for n in mine] if mine else list(workload.sizes(options.full))
        else:
            sizes = list(workload.sizes(options.full))
        pairs += [(workload, s) for s in sizes]
    return pairs


def run(options: Options, argv: list[str] | None = None, log: Callable[[str], None] | None = None) -> dict:
    from tqdm import tqdm

    pairs = plan(options)
    threads = machine.set_threads(options.threads)
    contenders, skipped = discover(options.backends)
    if options.exact:
        contenders = [c for c in contenders if c.name in options.backends]
    say = log or tqdm.write
    for s in skipped:
        say(f"skipped {s['name']}: {s['reason']}")
    if threads.get("numpy_blas") != options.threads:
        say(f"note: NumPy's BLAS uses {threads.get('numpy_blas')} threads, not {options.threads}: without "
            f"threadpoolctl it keeps what it read at import; export OPENBLAS_NUM_THREADS={options.threads}")
    if options.peaks is None:
        say(f"threads: {fmt_threads(threads)}; measuring memory bandwidth ...")
    peaks = options.peaks or measure_peaks(contenders, options.threads, options.copy_bytes)
    figures: list[dict] = []
    interrupted = False
    try:
        if options.isolate:
            from mark1.bench import isolate

            isolate.measure_each_in_its_own_process(options, contenders, peaks, figures, say)
        else:
            tasks = [(w, s, [c for c in contenders if c.supports(w.name)]) for w, s in pairs]
            _measure_all(tasks, options, peaks, figures, say)
    except KeyboardInterrupt:   # Ctrl-C: keep what was measured, the file says the run is incomplete
        interrupted = True
        say(f"interrupted: keeping the {len(figures)} figures measured so far")
    add_ratios(figures)
    return {
        "schema": SCHEMA, "machine": machine.machine_slug(),
        "created": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "command": list(argv or []), "suite": options.suite, "hardware": machine.hardware(),
        "versions": machine.versions(), "threads": threads, "peaks": peaks,
        "contenders": [{"name": c.name, "device": c.device, "description": c.description} for c in contenders],
        "skipped": skipped, "interrupted": interrupted, "figures": figures,
    }


def _measure_all(tasks, options: Options, peaks: dict, figures: list[dict], say: Callable[[str], None]) -> None:
    from tqdm import tqdm

    with tqdm(total=sum(len(cs) for _, _, cs in tasks), unit="figure", disable=not options.progress,
              file=sys.stderr) as bar:
        for workload, size, chosen in tasks:
            inputs = workload.make_inputs(size, np.random.default_rng(0))
            expected = workload.oracle(inputs)
            for contender in chosen:
                bar.set_description(f"{workload.name} {size.label} {contender.name}")
                fig = measure(workload, size, contender, inputs, expected, options, peaks)
                if fig.get("compile_s"):
                    say(f"compile: {workload.name} {size.label} {contender.name}: {fig['compile_s']:.2f} s JIT "
                        f"({', '.join(f'{k} {v:.2f} s' for k, v in fig['compile'].items())})")
                if fig["status"] != "ok":
                    say(f"{workload.name} {size.label} {contender.name}: {fig['status']}: {fig.get('message')}")
                figures.append(fig)
                bar.update()


def measure_peaks(contenders: list[Contender], threads: int, copy_bytes: int | None = None) -> dict:
    cpu_bw = machine.measure_cpu_bandwidth(nbytes=copy_bytes)
    clock = None if machine.clock_is_stated() else machine.measure_cpu_clock(threads)
    peaks = {"cpu": {**machine.cpu_peak(threads, measured_mhz=clock), "bytes_per_s": cpu_bw["bytes_per_s"],
                     "bandwidth_method": cpu_bw["method"], "bandwidth_all_methods_gbs": cpu_bw["all_methods"]},
             "gpu": None}
    gpu = machine.gpu_info()
    if gpu and any(c.device == "gpu" for c in contenders):
        gpu_bw = machine.measure_gpu_bandwidth(nbytes=copy_bytes)
        flops = machine.gpu_peak(gpu["name"], gpu) or {"flop_per_s": None, "formula": "device not in the table",
                                                   "source": None}
        peaks["gpu"] = {**flops, "bytes_per_s": gpu_bw["bytes_per_s"], "bandwidth_method": gpu_bw["method"]}
    return peaks


def measure(workload: wl.Workload, size: wl.Size, contender: Contender, inputs: dict, expected: dict,
            options: Options, peaks: dict) -> dict:
    """One figure: first call, correctness check, then the steady-state timing."""
    fig = {"workload": workload.name, "size": size.label, "dims": list(size.dims), "x": size.x,
           "x_label": workload.x_label, "dtype": "float32", "contender": contender.name, "device": contender.device,
           "unit": workload.unit, "work": workload.work(size), "work_kind": workload.work_kind,
           "status": "ok", "error": None, "value": None}
    try:
        with contender.activate():
            clock = contender.make_clock()
            prepared = contender.prepare(workload.name, inputs)
            # OpenBLAS and OpenMP workers keep spinning for up to ~0.1 s after their last call; on a small
            # machine they would take the cores from the next library's threads, so let them go to sleep first.
            time.sleep(options.settle_s)
            compiles_before = len(_compile_log())
            first_s = first_call(clock, prepared.run)
            _record_compiles(fig, _compile_log()[compiles_before:])
            err = workload.check(inputs, prepared.fetch(), expected)
            fig["error"] = err if math.isfinite(err) else None   # JSON has no inf/NaN
            if not err <= wl.TOLERANCE:
                what = f"max error {err:.3g} of its scale" if math.isfinite(err) else "wrong shape, NaN or inf"
                fig.update(status="wrong", message=f"result differs from the float64 reference: {what} "
                                                   f"(tolerance {wl.TOLERANCE})")
                return fig
            timing = steady_state(clock, prepared.run, first_s, options.repeat, options.min_time)
    except Exception as e:  # one failing contender must not end the run: record why and go on
        fig.update(status="error", message=f"{type(e).__name__}: {e}")
        return fig
    peak = _peak(peaks, contender.device, workload.work_kind)
    value = workload.throughput(size, timing.median_s)
    fig.update(
        first_call_s=timing.first_call_s, repeats=timing.repeats, number=timing.number,
        seconds={"median": timing.median_s, "min": timing.min_s, "max": timing.max_s, "q1": timing.q1_s,
                 "q3": timing.q3_s},
        value=value, value_min=workload.throughput(size, timing.max_s),
        value_max=workload.throughput(size, timing.min_s),
        peak_value=workload.peak_throughput(size, peak) if peak else None,
        fraction_of_peak=value / workload.peak_throughput(size, peak) if peak else None,
    )
    return fig


def _compile_log() -> list:
    """The numba kernels' compile events so far (kernels/cpu/_jit.py), or [] without numba."""
    try:
        from mark1.kernels.cpu._jit import COMPILE_LOG
    except ImportError:
        return []
    return COMPILE_LOG


def _record_compiles(fig: dict, events: list) -> None:
    """compile_s: seconds the first call spent compiling (or loading from numba's cache) kernels, timed
    around each compile itself, so it is apart from the first call's other costs; compile: per kernel."""
    if not events:
        return
    per_kernel: dict[str, float] = {}
    for e in events:
        name = f"{e.kernel}[{e.dtype}{', cached' if e.from_cache else ''}]"
        per_kernel[name] = per_kernel.get(name, 0.0) + e.seconds
    fig.update(compile_s=sum(per_kernel.values()), compile=per_kernel)


def _peak(peaks: dict, device: str, work_kind: str) -> float | None:
    device_peaks = peaks.get(device) or {}
    return device_peaks.get("flop_per_s" if work_kind == "flop" else "bytes_per_s")


def add_ratios(figures: list[dict]) -> None:
    """ratio_to_reference / ratio_to_torch: value over the same workload+size figure of that contender."""
    ok = {(f["workload"], f["size"], f["contender"]): f["value"] for f in figures if f["status"] == "ok"}
    for f in figures:
        ref, torch = REFERENCE[f["device"]], TORCH[f["device"]]
        f["reference"] = ref
        for key, other in (("ratio_to_reference", ref), ("ratio_to_torch", torch)):
            theirs = ok.get((f["workload"], f["size"], other))
            f[key] = f["value"] / theirs if f["status"] == "ok" and theirs else None
