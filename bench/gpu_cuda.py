"""GPU benchmark of the cuda backend: the issue-5 figures in one run, written as bench/results/<gpu>.json.

    PYTHONPATH=. python bench/gpu_cuda.py [--out DIR] [--quick]
    PYTHONPATH=. python bench/gpu_cuda.py --profile sgemm-raw 4096   # a few launches for ncu, no timing

Figures (each a ratio to a reference timed in the same run on the same GPU, after a correctness check):
  matmul      RawKernel SGEMM and numba.cuda SGEMM vs cupy.matmul (cuBLAS), n = 1024 ... 8192, float32
  sigmoid     mark1 sigmoid on 2^28 float32 vs a device-to-device copy of the same bytes (read + write)
  train_step  784-128-64-10 sigmoid MLP, softmax cross-entropy, SGD, batch 256 and 16384, vs torch eager
  launch      one tiny kernel per call (numba.cuda dispatch vs a CuPy RawKernel): what limits small batches
Timing: CUDA events on the default stream after warm-up; the first call (JIT / NVRTC compile included) is
reported separately as first_call_s; medians of `repeats` samples. Output schema: "mark1-bench/1"
(mark1/bench/results.py on the bench branch), so `mark1 bench report` can draw it beside the CPU results.
"""

from __future__ import annotations

import argparse
import json
import platform
import re
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

import mark1 as m1
from mark1 import nn

MLP = (784, 128, 64, 10)
H100_FP32_SIMT = 67e12  # FLOP/s, H100 SXM (CUDA_NOTES.md); used only for fraction_of_peak


def events_timer(fn, repeats: int = 15, target_s: float = 0.02):
    """(first_call_s, per-call seconds of each repeat): warm-up, then calls batched so a sample lasts ~target_s."""
    import cupy

    sync = cupy.cuda.Device().synchronize
    t0 = time.perf_counter()
    fn()
    sync()
    first = time.perf_counter() - t0
    for _ in range(3):
        fn()
    start, end = cupy.cuda.Event(), cupy.cuda.Event()
    start.record()
    fn()
    end.record()
    end.synchronize()
    once = cupy.cuda.get_elapsed_time(start, end) / 1e3
    number = max(1, min(1000, int(target_s / max(once, 1e-7))))
    samples = []
    for _ in range(repeats):
        start.record()
        for _ in range(number):
            fn()
        end.record()
        end.synchronize()
        samples.append(cupy.cuda.get_elapsed_time(start, end) / 1e3 / number)
    return first, samples, number


def figure(workload, size, dims, x, contender, unit, work, timing, error, reference=None, peak=None, status="ok"):
    first, samples, number = timing if timing else (None, [], 0)
    med = float(np.median(samples)) if samples else None
    value = (work / med / 1e9 if unit in ("GFLOP/s", "GB/s") else 1.0 / med) if med else None
    q = np.percentile(samples, [0, 25, 50, 75, 100]).tolist() if samples else [None] * 5
    return {
        "workload": workload, "size": size, "dims": dims, "x": x, "x_label": "", "dtype": "float32",
        "contender": contender, "device": "gpu", "unit": unit, "work": work,
        "work_kind": "flop" if unit == "GFLOP/s" else ("byte" if unit == "GB/s" else "call"),
        "status": status, "error": error, "first_call_s": first,
        "seconds": {"median": med, "min": q[0], "max": q[4], "q1": q[1], "q3": q[3]},
        "repeats": len(samples), "number": number, "value": value,
        "value_min": work / q[4] / 1e9 if samples and unit != "steps/s" else None,
        "value_max": work / q[0] / 1e9 if samples and unit != "steps/s" else None,
        "reference": reference, "ratio_to_reference": None, "ratio_to_torch": None,
        "peak_value": peak, "fraction_of_peak": (value / peak) if value and peak else None,
    }


def add_ratios(figs: list[dict]) -> None:
    by_key = {(f["workload"], f["size"], f["contender"]): f for f in figs}
    for f in figs:
        ref = by_key.get((f["workload"], f["size"], f["reference"])) if f["reference"] else None
        if ref and ref["value"] and f["value"]:
            f["ratio_to_reference"] = f["value"] / ref["value"]
        torch_fig = by_key.get((f["workload"], f["size"], "torch-cuda"))
        if torch_fig and torch_fig["value"] and f["value"]:
            f["ratio_to_torch"] = f["value"] / torch_fig["value"]


def rel_error(got, expected) -> float:
    import cupy

    scale = float(cupy.abs(expected).max()) or 1.0
    return float(cupy.abs(got.astype(cupy.float64) - expected.astype(cupy.float64)).max()) / scale


def bench_matmul(sizes, figs, log):
    import cupy

    from mark1.kernels.cuda import raw

    for n in sizes:
        rng = cupy.random.default_rng(n)
        a, b = rng.standard_normal((n, n), dtype=cupy.float32), rng.standard_normal((n, n), dtype=cupy.float32)
        expected = a @ b
        work, peak = 2.0 * n**3, H100_FP32_SIMT / 1e9
        figs.append(figure("matmul", str(n), [n, n, n], work, "cupy", "GFLOP/s", work,
                           events_timer(lambda a=a, b=b: cupy.matmul(a, b)), 0.0, "cupy", peak))
        for name, matmul in (("mark1-cuda-raw", "raw"), ("mark1-cuda-numba", "numba")):
            out = cupy.full((n, n), cupy.nan, dtype=cupy.float32)  # poisoned: every element must be written
            with m1.backend("cuda", matmul=matmul):
                m1.matmul(a, b, out=out)
                err = rel_error(out, expected)
                ok = err < 1e-4
                timing = events_timer(lambda a=a, b=b, out=out: m1.matmul(a, b, out=out)) if ok else None
            figs.append(figure("matmul", str(n), [n, n, n], work, name, "GFLOP/s", work, timing, err, "cupy", peak,
                               "ok" if ok else "wrong"))
        # the same RawKernel asked to fit two blocks per SM (<= 128 registers, small epilogue spills)
        out = cupy.full((n, n), cupy.nan, dtype=cupy.float32)
        raw.sgemm(a, b, out, min_blocks=2)
        err = rel_error(out, expected)
        timing = events_timer(lambda a=a, b=b, out=out: raw.sgemm(a, b, out, min_blocks=2)) if err < 1e-4 else None
        figs.append(figure("matmul", str(n), [n, n, n], work, "mark1-cuda-raw-2blocks", "GFLOP/s", work, timing, err,
                           "cupy", peak, "ok" if timing else "wrong"))
        log(figs[-4:])


def bench_sigmoid(n, figs, log):
    import cupy

    x = cupy.random.default_rng(0).uniform(-8, 8, n, dtype=cupy.float32)
    y = cupy.full(n, cupy.nan, dtype=cupy.float32)
    work = 8.0 * n  # bytes read + written
    copy = lambda: cupy.cuda.runtime.memcpyAsync(y.data.ptr, x.data.ptr, x.nbytes,
                                                 cupy.cuda.runtime.memcpyDeviceToDevice, 0)
    figs.append(figure("sigmoid", f"2^{n.bit_length() - 1}", [n], n, "copy", "GB/s", work, events_timer(copy), 0.0,
                       "copy"))
    m1.sigmoid(x, out=y)
    expected = 1 / (1 + cupy.exp(-x.astype(cupy.float64)))
    err = rel_error(y, expected)
    timing = events_timer(lambda: m1.sigmoid(x, out=y)) if err < 1e-6 else None
    figs.append(figure("sigmoid", f"2^{n.bit_length() - 1}", [n], n, "mark1-cuda", "GB/s", work, timing, err, "copy",
                       status="ok" if timing else "wrong"))
    ref_sigmoid = cupy.ElementwiseKernel("float32 x", "float32 y", "y = 1.f / (1.f + expf(-x))", "ref_sigmoid")
    figs.append(figure("sigmoid", f"2^{n.bit_length() - 1}", [n], n, "cupy", "GB/s", work,
                       events_timer(lambda: ref_sigmoid(x, y)), 0.0, "copy"))
    log(figs[-3:])


def _mark1_step(batch, seed=0):
    """A mark1 training step on the current backend plus the initial weights (host) to copy into torch."""
    rng = np.random.default_rng(seed)
    x_host = rng.standard_normal((batch, MLP[0]), dtype=np.float32)
    labels_host = rng.integers(0, MLP[-1], batch)
    m1.seed(seed)
    model = nn.Sequential(nn.Dense(MLP[0], MLP[1]), nn.Sigmoid(), nn.Dense(MLP[1], MLP[2]), nn.Sigmoid(),
                          nn.Dense(MLP[2], MLP[3]))
    loss = nn.CrossEntropyLoss(check_labels=False)
    opt = nn.SGD(model.parameters(), lr=0.1)
    x, labels = m1.asarray(x_host), m1.asarray(labels_host, dtype="int64")
    weights = [m1.to_numpy(p.data).copy() for p in model.parameters()]

    def step():
        value = loss(model(x), labels)
        model.backward(loss.backward())
        opt.step()
        opt.zero_grad()
        return value

    return step, model, weights, x_host, labels_host


def _torch_step(weights, x_host, labels_host):
    import torch

    layers = []
    for i in range(3):
        lin = torch.nn.Linear(MLP[i], MLP[i + 1]).cuda()
        with torch.no_grad():
            lin.weight.copy_(torch.from_numpy(weights[2 * i].T.copy()))
            lin.bias.copy_(torch.from_numpy(weights[2 * i + 1]))
        layers += [lin, torch.nn.Sigmoid()] if i < 2 else [lin]
    model = torch.nn.Sequential(*layers)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    x, labels = torch.from_numpy(x_host).cuda(), torch.from_numpy(labels_host).cuda()

    def step():
        opt.zero_grad(set_to_none=True)
        value = torch.nn.functional.cross_entropy(model(x), labels)
        value.backward()
        opt.step()
        return value.detach()

    return step, model


def bench_train(batches, figs, log):
    for batch in batches:
        pairs = enumerate(zip(MLP[:-1], MLP[1:], strict=True))
        flop = sum((4.0 if i == 0 else 6.0) * batch * k * n for i, (k, n) in pairs)  # no dx for the first layer
        size = f"batch {batch}"
        losses_seen = {}
        for name, matmul in (("mark1-cuda", "raw"), ("mark1-cuda-numba", "numba")):
            with m1.backend("cuda", matmul=matmul):
                step, model, weights, x_host, labels_host = _mark1_step(batch)
                losses_seen[name] = float(step())
                timing = events_timer(step, repeats=10)
            figs.append(figure("train_step", size, [batch], batch, name, "steps/s", flop, timing, None, "torch-cuda"))
        try:
            tstep, _ = _torch_step(weights, x_host, labels_host)
            torch_loss = float(tstep())
            for name, value in losses_seen.items():  # same weights and data: the first losses must agree
                err = abs(value - torch_loss) / abs(torch_loss)
                fig = next(f for f in figs if f["contender"] == name and f["size"] == size)
                fig["error"] = err
                fig["status"] = "ok" if err < 1e-4 else "wrong"
            figs.append(figure("train_step", size, [batch], batch, "torch-cuda", "steps/s", flop,
                               events_timer(tstep, repeats=10), 0.0, "torch-cuda"))
        except ImportError as e:
            print(f"torch unavailable: {e}", file=sys.stderr)
        log(figs[-3:])


def bench_launch(figs, log):
    import cupy

    x = cupy.ones(1024, dtype=cupy.float32)
    y = cupy.empty_like(x)
    ref = cupy.ElementwiseKernel("float32 x", "float32 y", "y = 1.f / (1.f + expf(-x))", "ref_sigmoid_small")
    for name, fn in (("mark1-cuda", lambda: m1.sigmoid(x, out=y)), ("cupy", lambda: ref(x, y))):
        figs.append(figure("launch", "1024 elements", [1024], 1024, name, "steps/s", 1.0, events_timer(fn), None,
                           "cupy"))
    log(figs[-2:])


def hardware() -> dict:
    import cupy

    dev = cupy.cuda.Device()
    props = cupy.cuda.runtime.getDeviceProperties(dev.id)
    gpu = {"name": props["name"].decode(), "memory_bytes": int(props["totalGlobalMem"]),
           "compute_capability": f"{props['major']}.{props['minor']}", "sms": int(props["multiProcessorCount"]),
           "cuda_driver": cupy.cuda.runtime.driverGetVersion()}
    return {"cpu_model": platform.processor() or platform.machine(), "cpu_count": None, "memory_bytes": None,
            "machine": platform.machine(), "gpu": gpu}


def versions() -> dict:
    out = {"python": platform.python_version(), "mark1": getattr(m1, "__version__", None), "numpy": np.__version__}
    for mod in ("numba", "cupy", "torch"):
        try:
            out[mod] = __import__(mod).__version__
        except ImportError:
            out[mod] = None
    return out


def log_figures(figs: list[dict]) -> None:
    for f in figs:
        val = f"{f['value']:.4g}" if f["value"] else "-"
        err = f"{f['error']:.2g}" if isinstance(f["error"], float) else "-"
        print(f"{f['workload']:<11} {f['size']:<14} {f['contender']:<17} {val:>10} {f['unit']:<8} "
              f"status={f['status']} err={err} first_call={f['first_call_s'] or 0:.3f}s", flush=True)


def profile(name: str, n: int) -> None:
    """A few launches of one kernel and nothing else, for `ncu --kernel-name regex:...`."""
    import cupy

    from mark1.backends.cuda_launch import CudaOps

    rng = cupy.random.default_rng(0)
    a, b = rng.standard_normal((n, n), dtype=cupy.float32), rng.standard_normal((n, n), dtype=cupy.float32)
    out = cupy.empty((n, n), dtype=cupy.float32)
    ops = CudaOps(cupy, raw_matmul=name == "sgemm-raw")
    for _ in range(3):
        if name.startswith("sgemm"):
            ops.matmul(a, b, out)
        else:
            cupy.matmul(a, b, out=out)
    cupy.cuda.Device().synchronize()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default="bench/results")
    parser.add_argument("--quick", action="store_true", help="small sizes only (a smoke run)")
    parser.add_argument("--profile", nargs=2, metavar=("KERNEL", "N"), help="sgemm-raw | sgemm-numba | cublas")
    args = parser.parse_args(argv)
    if args.profile:
        profile(args.profile[0], int(args.profile[1]))
        return 0
    m1.use("cuda")
    figs: list[dict] = []
    parts = [("matmul", bench_matmul, ((256, 512) if args.quick else (1024, 2048, 4096, 8192),)),
             ("sigmoid", bench_sigmoid, (1 << (20 if args.quick else 28),)),
             ("train_step", bench_train, ((256, 1024) if args.quick else (256, 16384),)),
             ("launch", bench_launch, ())]
    for workload, run, sizes in parts:
        try:  # one failing workload must not cost the others' figures: it is recorded as status "error"
            run(*sizes, figs, log_figures)
        except Exception as e:
            print(f"{workload} failed: {type(e).__name__}: {e}", file=sys.stderr, flush=True)
            fig = figure(workload, "-", [], 0, "mark1-cuda", "steps/s", 1.0, None, f"{type(e).__name__}: {e}",
                         status="error")
            figs.append(fig)
    add_ratios(figs)
    hw = hardware()
    described = {"copy": "cudaMemcpyAsync device-to-device (the bandwidth reference)",
                 "cupy": "CuPy (cuBLAS / ElementwiseKernel)",
                 "torch-cuda": "PyTorch eager on the same GPU", "mark1-cuda": "mark1 cuda backend (RawKernel GEMM)",
                 "mark1-cuda-raw": "mark1 CuPy RawKernel SGEMM (sgemm.cu)",
                 "mark1-cuda-raw-2blocks": "sgemm.cu with __launch_bounds__(256, 2) (an occupancy experiment)",
                 "mark1-cuda-numba": "mark1 numba.cuda register-tiled GEMM"}
    slug = re.sub(r"[^a-z0-9]+", "-", hw["gpu"]["name"].lower()).strip("-")
    copy = next((f["value"] for f in figs if f["contender"] == "copy"), None)
    results = {
        "schema": "mark1-bench/1", "machine": slug, "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": sys.argv, "suite": "quick" if args.quick else "full", "hardware": hw, "versions": versions(),
        "threads": None,
        "peaks": {"cpu": None, "gpu": {"flop_per_s": H100_FP32_SIMT, "formula": "H100 SXM fp32 SIMT (CUDA_NOTES)",
                                       "source": "quoted", "bytes_per_s": copy * 1e9 if copy else None,
                                       "bandwidth_method": "device-to-device memcpy measured in this run"}},
        "contenders": [{"name": c, "device": "gpu", "description": described.get(c, c)}
                       for c in sorted({f["contender"] for f in figs})],
        "skipped": [], "interrupted": False, "figures": figs,
    }
    path = Path(args.out) / f"{slug}{'-quick' if args.quick else ''}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=1, allow_nan=False) + "\n")
    print(f"\nwrote {path}")
    print("\nratios to the reference measured in the same run:")
    for f in figs:
        if f["ratio_to_reference"] is not None and f["contender"] != f["reference"]:
            print(f"  {f['workload']:<11} {f['size']:<14} {f['contender']:<17} {f['ratio_to_reference']:.3f}x "
                  f"{f['reference']}")
    return 1 if any(f["status"] != "ok" for f in figs) else 0


if __name__ == "__main__":
    sys.exit(main())
