"""Timing one call: first call (JIT/compile included) apart from the steady state, medians over repeats.

A repeat times `number` back-to-back calls, with `number` chosen so one repeat lasts at least `min_time`
(short calls are otherwise below the clock's resolution); the per-call time is the repeat's time / number.
On the CPU the clock is time.perf_counter around a synchronised block; on a GPU it is a pair of CUDA events
recorded on the stream after warm-up, so launch overhead is not mistaken for kernel time.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


class CpuClock:
    """Wall clock around a block; `sync` waits for asynchronous work (a no-op for host arrays)."""

    def __init__(self, sync: Callable[[], None] = lambda: None):
        self.sync = sync

    def time_block(self, run: Callable[[], object], number: int) -> float:
        return clock_seconds(self, run, number)


class CupyEventClock:
    """CUDA events on CuPy's current stream (cuBLAS/CuPy and mark1's cuda backend).

    The events bracket the calls only if the kernels are ordered on that stream: CuPy's default current
    stream is the legacy default stream, where mark1's cuda backend launches its numba and CuPy kernels too.
    """

    def __init__(self):
        import cupy

        self.cupy = cupy
        self.sync = cupy.cuda.get_current_stream().synchronize

    def time_block(self, run: Callable[[], object], number: int) -> float:
        start, end = self.cupy.cuda.Event(), self.cupy.cuda.Event()
        start.record()
        for _ in range(number):
            run()
        end.record()
        end.synchronize()
        return self.cupy.cuda.get_elapsed_time(start, end) / 1e3


class TorchEventClock:
    """CUDA events on torch's current stream."""

    def __init__(self):
        import torch

        self.torch = torch
        self.sync = torch.cuda.synchronize

    def time_block(self, run: Callable[[], object], number: int) -> float:
        start = self.torch.cuda.Event(enable_timing=True)
        end = self.torch.cuda.Event(enable_timing=True)
        start.record()
        for _ in range(number):
            run()
        end.record()
        end.synchronize()
        return start.elapsed_time(end) / 1e3


@dataclass(frozen=True)
class Timing:
    first_call_s: float      # the very first call, synchronised: includes JIT compilation and allocation
    median_s: float          # per call, steady state
    min_s: float
    max_s: float
    q1_s: float
    q3_s: float
    repeats: int
    number: int              # calls per repeat


def first_call(clock, run: Callable[[], object]) -> float:
    return clock_seconds(clock, run, 1)


def clock_seconds(clock, run: Callable[[], object], number: int) -> float:
    """Wall time of `number` calls including the final synchronisation (events need a warm stream)."""
    clock.sync()
    start = time.perf_counter()
    for _ in range(number):
        run()
    clock.sync()
    return time.perf_counter() - start


def steady_state(clock, run: Callable[[], object], first_s: float, repeat: int, min_time: float,
                 warmup: int = 1) -> Timing:
    """Warm up, pick `number` from a warm call, then time `repeat` repeats of `number` calls each."""
    for _ in range(warmup):
        run()
    warm_s = max(clock_seconds(clock, run, 1), 1e-7)
    number = max(1, math.ceil(min_time / warm_s))
    samples = np.array([clock.time_block(run, number) / number for _ in range(repeat)])
    q1, median, q3 = np.percentile(samples, [25, 50, 75])
    return Timing(first_s, float(median), float(samples.min()), float(samples.max()), float(q1), float(q3),
                  repeat, number)
