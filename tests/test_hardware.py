"""CPU detection (mark1/hardware.py) and the per-ISA parameter table (kernels/cpu/params.py) on recorded
/proc/cpuinfo + sysfs samples (tests/data/cpu/: <name>.cpuinfo, and <name>.sysfs.json laid out as files)."""

from __future__ import annotations

import json
import platform
from pathlib import Path

import pytest

from mark1.hardware import cpu_facts, detect

DATA = Path(__file__).parent / "data" / "cpu"


def sample(name: str, tmp_path: Path):
    for rel, text in json.loads((DATA / f"{name}.sysfs.json").read_text()).items():
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text + "\n")
    return detect((DATA / f"{name}.cpuinfo").read_text(), tmp_path, cores=2, sysconf_fallback=False)


# name: isa, fp32 FLOP/cycle/core, L1d, L2, max MHz (None: unknown), substring of the clock's source
EXPECTED = {
    "zen1": ("avx2", 16, 32 << 10, 512 << 10, 2550.0, "cpuinfo_max_freq"),
    "zen4": ("avx512", 32, 32 << 10, 1 << 20, 2600.1, "current clock"),
    "intel-spr": ("avx512", 64, 48 << 10, 2 << 20, 3800.0, "cpuinfo_max_freq"),
    "kvm-xeon-amx": ("avx512", 64, 48 << 10, 2 << 20, 2599.998, "current clock"),
    "kvm-zen5": ("avx512", 64, 48 << 10, 1 << 20, 2695.948, "current clock"),
    "intel-skylake-avx2": ("avx2", 32, 32 << 10, 256 << 10, 4000.0, "cpuinfo_max_freq"),
    "no-max-clock": ("avx512", 64, None, None, None, "unknown"),
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_detection_on_recorded_samples(name, tmp_path):
    isa, flop, l1d, l2, mhz, mhz_source = EXPECTED[name]
    facts = sample(name, tmp_path)
    assert facts.isa == isa
    assert facts.vector_bits == {"avx512": 512, "avx2": 256}[isa]
    assert facts.fp32_flop_per_cycle.value == flop
    assert facts.l1d.value == l1d and facts.l2.value == l2
    assert facts.max_mhz.value == mhz and mhz_source in facts.max_mhz.source
    assert facts.cores.value == 2
    assert all(fact.source for fact in (facts.l1d, facts.l2, facts.l3, facts.max_mhz, facts.fp32_flop_per_cycle))


def test_zen4_is_named_and_its_512_bit_fma_counted_as_two_halves(tmp_path):
    facts = sample("zen4", tmp_path)
    assert facts.core_name.value == "Zen 4"
    assert "two halves" in facts.fp32_flop_per_cycle.source


def test_zen5_counts_its_two_full_width_512_bit_fma_units(tmp_path):
    facts = sample("kvm-zen5", tmp_path)   # a 2-vCPU KVM guest of an EPYC 9005 (family 0x1a model 0x02)
    assert facts.core_name.value == "Zen 5 (server/desktop)"
    assert "2 x 512-bit FMA" in facts.fp32_flop_per_cycle.source


def test_unknown_cpu_says_so_instead_of_guessing(tmp_path):
    facts = detect("processor : 0\nvendor_id : SomeVendor\ncpu family : 7\nmodel : 1\nflags : fpu sse sse2\n",
                   tmp_path, cores=1, sysconf_fallback=False)
    assert facts.fp32_flop_per_cycle.value is None and "unknown" in facts.fp32_flop_per_cycle.source
    assert facts.isa == "generic" and facts.max_mhz.value is None and facts.l2.value is None


def test_this_machine_is_detected():
    facts = cpu_facts()
    assert facts.cores.value >= 1 and facts.isa in ("avx512", "avx2", "generic")
    assert facts.as_dict()["isa"] == facts.isa


@pytest.mark.parametrize("name", ["zen1", "zen4", "intel-spr", "intel-skylake-avx2"])
def test_parameter_table_follows_the_detected_isa_and_caches(name, tmp_path):
    from mark1.kernels.cpu.params import choose

    facts = sample(name, tmp_path)
    params = choose(facts, None)
    lanes = params.vector_bytes // 4
    assert params.isa == facts.isa and params.nr_f32 == 2 * lanes and params.nr_f64 == lanes
    assert params.kc * params.nr_f32 * 4 <= facts.l1d.value  # the B micro-panel fits in L1d
    assert params.mr * params.kc * params.mc_panels * 4 <= facts.l2.value  # the A block fits in L2
    assert params.kc * params.nc_panels * params.nr_f32 * 4 <= facts.l2.value  # and a chunk of B panels


def test_forcing_an_isa(tmp_path):
    from mark1.kernels.cpu.params import choose

    zen1, zen4 = sample("zen1", tmp_path / "a"), sample("zen4", tmp_path / "b")
    assert choose(zen4, "avx2").isa == "avx2" and "forced" in choose(zen4, "avx2").source
    with pytest.raises(RuntimeError, match="MARK1_ISA=avx512 .*lacks avx512bw"):
        choose(zen1, "avx512")
    with pytest.raises(ValueError, match="expected one of"):
        choose(zen4, "sse9")


@pytest.mark.parametrize(("name", "gflops"), [("zen4", 2 * 2600.1 * 32 / 1000), ("no-max-clock", None)])
def test_bench_peak_uses_the_real_fma_throughput(name, gflops, tmp_path, monkeypatch):
    from mark1.bench import machine

    facts = sample(name, tmp_path)
    monkeypatch.setattr(machine, "cpu_facts", lambda: facts)
    monkeypatch.setattr(machine, "cpu_count", lambda: 2)
    peak = machine.cpu_peak()
    if gflops is None:   # no clock anywhere: no peak, and the formula says why
        assert peak["flop_per_s"] is None and peak["formula"].startswith("unknown")
    else:
        assert peak["flop_per_s"] == pytest.approx(gflops * 1e9) and "two halves" in peak["formula"]


@pytest.mark.parametrize(("name", "expected_mhz"), [("zen4", 3900.0), ("zen1", 2550.0), ("no-max-clock", 3900.0)])
def test_bench_peak_prefers_a_measured_clock_to_a_current_one(name, expected_mhz, tmp_path, monkeypatch):
    """A VM's 'cpu MHz' is its base clock: the measured one wins, but never over cpufreq's stated maximum."""
    from mark1.bench import machine

    facts = sample(name, tmp_path)
    monkeypatch.setattr(machine, "cpu_facts", lambda: facts)
    monkeypatch.setattr(machine, "cpu_count", lambda: 2)
    peak = machine.cpu_peak(measured_mhz=3900.0)
    assert peak["mhz"] == expected_mhz
    if expected_mhz == 3900.0:
        assert peak["mhz_source"].startswith("measured: ") and peak["mhz_source"] in peak["formula"]
        assert peak["reported_mhz"] == facts.max_mhz.value
    if facts.fp32_flop_per_cycle.value is not None:
        assert peak["flop_per_s"] == pytest.approx(2 * expected_mhz * 1e6 * facts.fp32_flop_per_cycle.value)


@pytest.mark.skipif(platform.machine() not in ("x86_64", "AMD64"), reason="the clock chain is timed on x86-64 only")
def test_measured_clock_is_a_plausible_frequency():
    from mark1.bench import machine

    mhz = machine.measure_cpu_clock(2, iterations=2_000_000, repeat=3)
    assert 300 < mhz < 8000   # any x86-64 core ever sold; a shortened chain would read as several times more


@pytest.mark.skipif(not {"avx2", "fma"} <= cpu_facts().flags, reason="this CPU cannot run the avx2 path")
def test_forced_avx2_path_retargets_numba_in_a_fresh_process():
    import os
    import subprocess
    import sys

    code = ("import numba, mark1.kernels.cpu.params as p; from mark1.kernels.cpu import gemm; "
            "print(numba.config.CPU_NAME, p.PARAMS.isa, gemm.NR_F32)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "MARK1_ISA": "avx2"})
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["haswell", "avx2", "16"]


@pytest.mark.parametrize(("name", "slug"), [("kvm-zen5", "amd-epyc-zen-5-avx512-2c"),
                                            ("zen4", "amd-epyc-9r14-96-core-zen-4-avx512-2c"),
                                            ("zen1", "amd-epyc-7551-32-core-zen-avx2-2c"),
                                            ("kvm-xeon-amx", "intel-xeon-sapphire-rapids-class-avx512-2c"),
                                            ("intel-skylake-avx2", "intel-core-i7-6700-avx2-2c")])
def test_results_file_names_tell_cores_apart(name, slug, tmp_path, monkeypatch):
    """VMs report 'AMD EPYC' for every Zen: the core's name keeps a Zen 4's and a Zen 5's results apart."""
    from mark1.bench import machine

    facts = sample(name, tmp_path)
    monkeypatch.setattr(machine, "cpu_facts", lambda: facts)
    monkeypatch.setattr(machine, "cpu_model", lambda: facts.model_name)
    monkeypatch.setattr(machine, "cpu_count", lambda: 2)
    monkeypatch.setattr(machine, "gpu_info", lambda: None)
    assert machine.machine_slug() == slug
