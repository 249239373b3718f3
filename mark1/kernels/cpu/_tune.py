"""Quick measurement of the numba backend's three target figures, each beside its reference in the same run.

    python -m mark1.kernels.cpu._tune [--threads N] [--only matmul,sigmoid,mlp] [--rounds R]

Each figure runs in its own child process with NUMBA_NUM_THREADS, OPENBLAS_NUM_THREADS, OMP_NUM_THREADS and
MKL_NUM_THREADS set to N (default 2 = all cores here; torch.set_num_threads(N) too), so every contender
uses the same threads and no other library's thread pool is alive in the process.
Contenders are timed in alternating blocks (ours, reference, ours, ...; see _interleaved) and the median is
reported, which keeps a noisy shared machine from favouring whoever ran during a quiet moment. The first call (JIT or
cache load) is timed separately and never mixed into the steady state.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time

THREAD_VARS = ("NUMBA_NUM_THREADS", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
# With one thread every contender runs in this process's main thread, so CPU time (which excludes the
# time the OS gave to other people's jobs) is the fairer clock on a shared machine; with more threads only
# wall time is meaningful.
clock = time.perf_counter
PAUSE_S = 0.3  # longer than Intel OpenMP's default 200 ms spin-wait (KMP_BLOCKTIME)


def _interleaved(contenders: dict, rounds: int, blocks: int = 3) -> dict[str, float]:
    """Median seconds per call of each contender: `blocks` alternating blocks of `rounds` calls each.

    Blocks, not call-by-call alternation: OpenBLAS, numba's OpenMP pool and torch's each spin-wait after a
    parallel region (Intel OpenMP for 200 ms), so alternating single calls makes every pool fight the
    previous one for the two cores. A pause before each block lets the last pool go idle; alternating
    blocks still spreads the machine's background noise over all contenders.
    """
    times: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(blocks):
        for name, fn in contenders.items():
            time.sleep(PAUSE_S)
            fn()  # warm-up: caches, thread pool wake-up
            for _ in range(rounds):
                start = clock()
                fn()
                times[name].append(clock() - start)
    return {name: statistics.median(t) for name, t in times.items()}


def _first_call(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def bench_matmul(rounds: int) -> None:
    import numpy as np

    import mark1 as m1

    rng = np.random.default_rng(0)
    shapes = [(n, n, n) for n in (256, 512, 1024, 2048)]
    shapes += [(256, 784, 128), (256, 128, 64), (256, 64, 10), (784, 256, 128), (256, 128, 784)]
    print("matmul float32 (GFLOP/s, median of interleaved rounds)")
    print(f"{'M x K x N':>18} {'mark1 numba':>12} {'numpy.matmul':>13} {'ratio':>6}")
    with m1.backend("numba") as be:
        kernel = be.ops["matmul"]
        first = _first_call(lambda: m1.matmul(np.ones((64, 64), np.float32), np.ones((64, 64), np.float32)))
        for m, k, n in shapes:
            a = rng.standard_normal((m, k), dtype=np.float32)
            b = rng.standard_normal((k, n), dtype=np.float32)
            out, ref = np.empty((m, n), np.float32), np.empty((m, n), np.float32)
            r = rounds if n >= 1024 else rounds * 5
            # the kernel entry point against numpy.matmul: neither pays mark1's input checks
            t = _interleaved({"ours": lambda a=a, b=b, out=out: kernel(a, b, out),
                              "numpy": lambda a=a, b=b, ref=ref: np.matmul(a, b, out=ref)}, r)
            gf = {key: 2 * m * k * n / s / 1e9 for key, s in t.items()}
            print(f"{f'{m}x{k}x{n}':>18} {gf['ours']:12.1f} {gf['numpy']:13.1f} {t['numpy'] / t['ours']:6.2f}")
    print(f"first packed matmul call (JIT or cache load): {first:.2f} s")


def bench_sigmoid(rounds: int) -> None:
    import numpy as np

    import mark1 as m1

    x = np.random.default_rng(1).standard_normal(1 << 24, dtype=np.float32)
    out = np.empty_like(x)
    contenders = {}
    with m1.backend("numba"):
        first = _first_call(lambda: m1.sigmoid(x[:100]))
        contenders["mark1 numba"] = lambda: m1.sigmoid(x, out=out)
        contenders["numpy 1/(1+exp(-x))"] = lambda: 1 / (1 + np.exp(-x))
        try:
            import torch

            tx, tout = torch.from_numpy(x), torch.empty(x.size)
            contenders["torch.sigmoid"] = lambda: torch.sigmoid(tx, out=tout)
        except ImportError:
            pass
        t = _interleaved(contenders, rounds * 3)
    gbytes = 2 * x.nbytes / 1e9  # read x, write out
    print("sigmoid forward on 2^24 float32 (GB/s = (read + write) / time; out preallocated for both libraries)")
    for name, s in t.items():
        print(f"  {name:>22}: {gbytes / s:6.2f} GB/s  ({s * 1e3:.1f} ms)  mark1 is {s / t['mark1 numba']:.2f}x")
    print(f"first sigmoid call (JIT or cache load): {first:.2f} s")


def bench_mlp(rounds: int, batch: int = 256) -> None:
    import numpy as np

    import mark1 as m1
    from mark1 import nn

    rng = np.random.default_rng(2)
    x = rng.standard_normal((batch, 784), dtype=np.float32)
    labels = rng.integers(0, 10, batch)
    with m1.backend("numba"):
        m1.seed(0)
        model = nn.Sequential(nn.Dense(784, 128), nn.Sigmoid(), nn.Dense(128, 64), nn.Sigmoid(), nn.Dense(64, 10))
        loss = nn.CrossEntropyLoss()
        opt = nn.SGD(model.parameters(), lr=0.1)
        xb, yb = m1.asarray(x), m1.asarray(labels, dtype="int64")

        def ours():
            loss(model(xb), yb)
            model.backward(loss.backward())
            opt.step()

        first = _first_call(ours)
        contenders = {"mark1 numba": ours}
        try:
            import torch

            tmodel = torch.nn.Sequential(torch.nn.Linear(784, 128), torch.nn.Sigmoid(), torch.nn.Linear(128, 64),
                                         torch.nn.Sigmoid(), torch.nn.Linear(64, 10))
            topt = torch.optim.SGD(tmodel.parameters(), lr=0.1)
            tloss = torch.nn.CrossEntropyLoss()
            tx, ty = torch.from_numpy(x), torch.from_numpy(labels)

            def theirs():
                topt.zero_grad(set_to_none=False)
                tloss(tmodel(tx), ty).backward()
                topt.step()

            contenders["torch eager"] = theirs
        except ImportError:
            pass
        t = _interleaved(contenders, rounds * 20)
    print(f"one SGD training step, 784-128-64-10 sigmoid MLP + softmax cross-entropy, batch {batch}, float32")
    for name, s in t.items():
        print(f"  {name:>12}: {1 / s:8.1f} steps/s ({s * 1e3:.2f} ms)  mark1 is {s / t['mark1 numba']:.2f}x")
    print(f"first training step (JIT or cache load): {first:.2f} s")


def _torch(threads: int):
    """torch with `threads` intra-op threads, or None when it is not installed."""
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(threads)
    return torch


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2, help="threads for every contender (default 2)")
    parser.add_argument("--only", default="matmul,sigmoid,mlp")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if not args.child:
        # One child process per figure, with every library's thread variables set before it starts:
        # thread pools of different libraries in one process spin against each other between calls.
        env = {**os.environ, **{var: str(args.threads) for var in THREAD_VARS}}
        for section in args.only.split(","):
            command = [sys.executable, "-m", "mark1.kernels.cpu._tune", "--child", "--only", section.strip(),
                       "--rounds", str(args.rounds), "--threads", str(args.threads)]
            if subprocess.call(command, env=env):
                raise SystemExit(f"{section} failed")
        return

    import numba

    from mark1.hardware import cpu_model

    global clock
    threads = numba.get_num_threads()
    clock = time.process_time if threads == 1 else time.perf_counter
    section = args.only.strip()
    torch = _torch(threads) if section in ("sigmoid", "mlp") else None
    torch_note = f", torch {torch.__version__} with {torch.get_num_threads()} threads" if torch else ""
    print(f"\n{cpu_model()}, {os.cpu_count()} cores; numba {numba.__version__}"
          f" with {threads} threads, OpenBLAS threads {os.environ.get('OPENBLAS_NUM_THREADS')}"
          f"{torch_note}; clock: {clock.__name__}")
    {"matmul": bench_matmul, "sigmoid": bench_sigmoid, "mlp": bench_mlp}[section](args.rounds)


if __name__ == "__main__":
    main()
