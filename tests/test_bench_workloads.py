"""The benchmark's workloads and contenders: every usable contender passes the check, a wrong result fails it."""

from __future__ import annotations

import numpy as np
import pytest

from mark1.bench import contenders, conv_workloads, machine, timing
from mark1.bench import workloads as wl

CONTENDERS, _ = contenders.discover()
SMALL = {"matmul": wl.Size("13x7·7x5", (13, 7, 5), 910.0), "sigmoid": wl.Size("37", (37,), 37.0),
         "sigmoid_backward": wl.Size("37", (37,), 37.0), "dense": wl.Size("batch 9", (9,), 9.0),
         "train_step": wl.Size("batch 9", (9,), 9.0), "launch": wl.Size("37", (37,), 37.0),
         "rbm_step": wl.Size("batch 9", (9,), 9.0), **conv_workloads.SMALL}
SMALL.update({name: wl.Size("37", (37,), 37.0) for name in ("tanh", "relu", "tanh_backward", "relu_backward")},
             interleave=wl.Size("13x7·7x5", (13, 7, 5), 1820.0))


@pytest.mark.parametrize("contender", CONTENDERS, ids=lambda c: c.name)
@pytest.mark.parametrize("workload", list(wl.WORKLOADS.values()), ids=lambda w: w.name)
def test_every_contender_matches_the_float64_oracle(contender, workload):
    if not contender.supports(workload.name):
        pytest.skip(f"{contender.name} has no {workload.name} builder")
    size = SMALL[workload.name]
    inputs = workload.make_inputs(size, np.random.default_rng(3))
    expected = workload.oracle(inputs)
    with contender.activate():
        prepared = contender.prepare(workload.name, inputs)
        prepared.run()
        got = prepared.fetch()
    assert workload.check(inputs, got, expected) <= wl.TOLERANCE


@pytest.mark.parametrize("workload", list(wl.WORKLOADS.values()), ids=lambda w: w.name)
def test_the_check_catches_a_wrong_result(workload):
    size = SMALL[workload.name]
    inputs = workload.make_inputs(size, np.random.default_rng(3))
    expected = workload.oracle(inputs)
    prepared = next(c for c in CONTENDERS if c.name == "numpy").prepare(workload.name, inputs)
    prepared.run()
    got = prepared.fetch()
    assert workload.check(inputs, got, expected) <= wl.TOLERANCE
    key = next(iter(got))
    got[key] = got[key].copy()
    got[key].reshape(-1)[-1] += 0.5 * (np.abs(got[key]).max() + 1)   # one element off
    if "index" in expected:                                        # a sampled check (the elementwise ones)
        got[key].reshape(-1)[expected["index"]] += 0.5             # make sure a sampled element is off
    assert workload.check(inputs, got, expected) > wl.TOLERANCE


@pytest.mark.parametrize("n", [64, 1024])
def test_matmul_check_sees_one_wrong_element_in_a_large_product(n):
    matmul = wl.WORKLOADS["matmul"]
    size = matmul.size_from_int(n)
    inputs = matmul.make_inputs(size, np.random.default_rng(0))
    c = inputs["a"] @ inputs["b"]
    assert matmul.check(inputs, {"c": c}, {}) < 1e-5                       # float32 round-off only
    c[n // 3, n // 5] += 0.5 * np.sqrt(np.mean(c.astype(np.float64) ** 2))
    assert matmul.check(inputs, {"c": c}, {}) > wl.TOLERANCE


def test_train_step_check_compares_the_update_not_the_weights():
    size = SMALL["train_step"]
    inputs = wl.WORKLOADS["train_step"].make_inputs(size, np.random.default_rng(0))
    expected = wl.WORKLOADS["train_step"].oracle(inputs)
    no_update = {k: inputs[k] for k in wl.PARAM_NAMES}   # weights barely differ, but no step was taken
    assert wl.WORKLOADS["train_step"].check(inputs, no_update, expected) >= 1.0


def test_work_counts():
    assert wl.WORKLOADS["matmul"].work(wl.MLP_MATMULS[0]) == 2 * 256 * 784 * 128
    assert wl.WORKLOADS["sigmoid"].work(wl.Size("2^10", (1024,), 1024.0)) == 8 * 1024
    train = wl.WORKLOADS["train_step"]
    batch = wl.Size("batch 2", (2,), 2.0)
    assert train.work(batch) == 2 * (4 * 784 * 128 + 6 * 128 * 64 + 6 * 64 * 10)
    assert train.throughput(batch, 0.5) == 2.0                           # steps/s
    assert train.peak_throughput(batch, 1e9) == pytest.approx(1e9 / train.work(batch))


@pytest.mark.parametrize(("text", "value"), [("1024", 1024), ("2^20", 1 << 20), ("1<<16", 65536), (" 7 ", 7)])
def test_parse_size(text, value):
    assert wl.parse_size(text) == value


def test_select_lists_valid_workloads_on_a_typo():
    with pytest.raises(ValueError, match="valid workloads: matmul, interleave, sigmoid, sigmoid_backward, tanh, "
                                         "tanh_backward, relu, relu_backward, dense, train_step"):
        wl.select(["sigmod"])


def test_cpu_peak_states_its_formula():
    peak = machine.cpu_peak()
    assert peak["cores"] == machine.cpu_count()
    if peak["flop_per_s"] is None:   # a CPU mark1's table does not know: no guessed peak
        assert peak["formula"].startswith("unknown")
        return
    assert peak["flop_per_s"] == pytest.approx(peak["cores"] * peak["mhz"] * 1e6 * peak["flop_per_cycle"])
    assert "FLOP/cycle" in peak["formula"] and f"{peak['cores']} cores" in peak["formula"]
    assert peak["mhz_source"] in peak["formula"]
    one = machine.cpu_peak(threads=1)   # the peak of the cores the contenders were allowed to use
    assert one["cores"] == 1 and one["flop_per_s"] == pytest.approx(peak["flop_per_s"] / peak["cores"])
    assert machine.cpu_peak(threads=10_000)["cores"] == peak["cores"]


@pytest.mark.parametrize(("name", "tflops"), [("NVIDIA H100 80GB HBM3", 67.0), ("NVIDIA H100 PCIe", 51.0),
                                               ("NVIDIA H200", 67.0), ("NVIDIA A100-SXM4-40GB", 19.5)])
def test_gpu_peak_table(name, tflops):
    peak = machine.gpu_peak(name)
    assert peak["flop_per_s"] == tflops * 1e12 and "datasheet" in peak["source"]


def test_unknown_gpu_peak_comes_from_its_properties_or_is_none():
    assert machine.gpu_peak("Some Future GPU") is None
    props = {"compute_capability": "9.0", "sms": 132, "clock_mhz": 1980.0}
    peak = machine.gpu_peak("Some Future GPU", props)
    assert peak["flop_per_s"] == pytest.approx(66.9e12, rel=1e-3)   # what the H100 SXM datasheet says
    assert "132 SMs" in peak["formula"] and peak["source"] == "device properties"


def test_steady_state_timing_orders_its_statistics():
    calls = []
    t = timing.steady_state(timing.CpuClock(), lambda: calls.append(1), first_s=1e-3, repeat=4, min_time=1e-4)
    assert t.min_s <= t.q1_s <= t.median_s <= t.q3_s <= t.max_s and t.repeats == 4
    assert len(calls) >= 1 + 4 * t.number
