"""What the GPU run adds to the suite (it used to be a second harness, bench/gpu_cuda.py):

- contenders `mark1-cuda-numba` (the cuda backend with its numba.cuda GEMM instead of the RawKernel one) and
  `mark1-cuda-raw-2blocks` (sgemm.cu asked to fit two blocks per SM: an occupancy experiment, matmul only);
  `mark1-cuda` itself is the backend's default (RawKernel GEMM), found through the registry like every backend;
- (the `launch` workload, defined with the others in workloads.py: a 1024-element sigmoid, so one call is
  nearly all dispatch; calls per second say what limits small batches, on every device).

`GPU_SIZES` are the sizes `bench/gpu_run.sh` passes (`--sizes`): square GEMMs up to 8192, sigmoid on 2^28
elements, the training step at batch 256 and 16384. Timing is the engine's (CUDA events, medians of repeats,
first call apart); the device-to-device copy bandwidth measured first is every GB/s figure's peak.
"""

from __future__ import annotations

GPU_SIZES = ("matmul=1024", "matmul=2048", "matmul=4096", "matmul=8192", "sigmoid=2^28", "launch=1024",
             "train_step=256", "train_step=16384")
GPU_CONTENDERS = ("cuda", "mark1-cuda-numba", "mark1-cuda-raw-2blocks", "cupy", "torch-cuda")


def contender_factories():
    """(name, factory) for the GPU-only variants; contenders.py lists them after the registry's backends."""
    return [("mark1-cuda-numba", _cuda_numba), ("mark1-cuda-raw-2blocks", _cuda_raw_2blocks)]


def _cuda_numba():
    from mark1.bench import contenders as c

    base = c.mark1_contender("cuda", matmul="numba")
    base.name, base.description = "mark1-cuda-numba", "mark1 cuda backend with its numba.cuda register-tiled GEMM"
    return base


def _cuda_raw_2blocks():
    from mark1.bench import contenders as c
    from mark1.bench.references import Prepared

    base = c.mark1_contender("cuda")

    def matmul(inp):
        import cupy

        from mark1.kernels.cuda import raw

        a, b = cupy.asarray(inp["a"]), cupy.asarray(inp["b"])
        out = cupy.full((a.shape[0], b.shape[1]), cupy.nan, dtype=cupy.float32)   # every element must be written
        return Prepared(lambda: raw.sgemm(a, b, out, min_blocks=2), lambda: {"c": cupy.asnumpy(out)})

    base.name, base.builders = "mark1-cuda-raw-2blocks", {"matmul": matmul}
    base.description = "sgemm.cu with __launch_bounds__(256, 2): at most 128 registers, two blocks per SM"
    return base


def profile(kernel: str, n: int) -> None:
    """A few launches of one GEMM and nothing else, for `ncu --kernel-name regex:gemm` (no timing)."""
    import cupy

    import mark1 as m1

    rng = cupy.random.default_rng(0)
    a, b = rng.standard_normal((n, n), dtype=cupy.float32), rng.standard_normal((n, n), dtype=cupy.float32)
    out = cupy.empty((n, n), dtype=cupy.float32)
    with m1.backend("cuda", matmul="numba" if kernel == "sgemm-numba" else "raw"):
        for _ in range(3):
            if kernel == "cublas":
                cupy.matmul(a, b, out=out)
            else:
                m1.matmul(a, b, out=out)
    cupy.cuda.Device().synchronize()


def main(argv: list[str] | None = None) -> int:
    """`python -m mark1.bench.gpu profile KERNEL N` (KERNEL: sgemm-raw | sgemm-numba | cublas), for ncu."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m mark1.bench.gpu", description=main.__doc__)
    parser.add_argument("what", choices=["profile"])
    parser.add_argument("kernel", choices=["sgemm-raw", "sgemm-numba", "cublas"])
    parser.add_argument("n", type=int)
    args = parser.parse_args(argv)
    profile(args.kernel, args.n)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
