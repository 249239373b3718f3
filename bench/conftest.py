"""pytest-benchmark suites over the same workloads and contenders as `mark1 bench` (mark1/bench/).

    pytest bench/                                  # the quick sizes; --benchmark-compare works across commits
    MARK1_BENCH_FULL=1 pytest bench/               # every size
    MARK1_BENCH_SMOKE=1 pytest bench -q --benchmark-disable   # CI: the smallest size, each call once

Each test module names its workloads in WORKLOADS; every (workload, size) × usable contender becomes a test.
The result is checked against the float64 oracle before it is timed, as in `mark1 bench`.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

from mark1.bench import contenders, machine
from mark1.bench import workloads as wl
from mark1.hardware import cpu_count

SMOKE = os.environ.get("MARK1_BENCH_SMOKE") == "1"
FULL = os.environ.get("MARK1_BENCH_FULL") == "1"
CONTENDERS, SKIPPED = contenders.discover()
machine.set_threads(cpu_count())   # every library on all CPUs, as `mark1 bench` does by default


def _sizes(workload: wl.Workload) -> list[wl.Size]:
    sizes = workload.sizes(FULL)
    return [min(sizes, key=workload.work)] if SMOKE else list(sizes)


def pytest_generate_tests(metafunc):
    if "contender" in metafunc.fixturenames:
        metafunc.parametrize("contender", CONTENDERS, ids=[c.name for c in CONTENDERS])
    if "case" in metafunc.fixturenames:
        cases = [(wl.WORKLOADS[name], s) for name in metafunc.module.WORKLOADS for s in _sizes(wl.WORKLOADS[name])]
        metafunc.parametrize("case", cases, ids=[f"{w.name}-{s.label}".replace("·", "_") for w, s in cases])


def pytest_report_header(config):
    skipped = "; ".join(f"{s['name']} ({s['reason']})" for s in SKIPPED) or "none"
    mode = "smoke (smallest size)" if SMOKE else "full" if FULL else "quick sizes"
    return [f"mark1 bench: {mode}; contenders {', '.join(c.name for c in CONTENDERS)}; skipped: {skipped}"]


@pytest.fixture
def measure(benchmark):
    """measure(case, contender): check the contender's result, then let pytest-benchmark time one call."""

    def _measure(case: tuple[wl.Workload, wl.Size], contender: contenders.Contender) -> None:
        workload, size = case
        if not contender.supports(workload.name):
            pytest.skip(f"{contender.name} has no {workload.name}")
        inputs = workload.make_inputs(size, np.random.default_rng(0))
        with contender.activate():
            clock = contender.make_clock()
            prepared = contender.prepare(workload.name, inputs)
            prepared.run()
            error = workload.check(inputs, prepared.fetch(), workload.oracle(inputs))
            assert error <= wl.TOLERANCE, f"{contender.name} {workload.name} {size.label}: error {error:.3g}"
            benchmark.group = f"{workload.name} {size.label}"
            benchmark.extra_info.update(workload=workload.name, size=size.label, contender=contender.name,
                                        device=contender.device, unit=workload.unit, work=workload.work(size),
                                        work_kind=workload.work_kind)

            def one_call():
                prepared.run()
                clock.sync()   # GPU work is asynchronous: time it to completion

            benchmark(one_call)

    return _measure
