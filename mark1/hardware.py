"""Facts about the host CPU, detected once per process, each with where it came from.

`cpu_facts()` reads /proc/cpuinfo and /sys/devices/system/cpu (glibc's cpuid-based sysconf values as the
fallback for cache sizes) and answers: vendor/family/model, instruction sets, the widest vector ISA the
kernels can use, fp32 FLOP per cycle per core (from a small table of known cores; None when unknown rather
than a guess), L1d/L2/L3 sizes, core count and the max clock. The parsers take file contents or a sysfs root,
so tests feed them recorded samples (tests/data/cpu/). kernels/cpu/params.py turns these facts into tiles.
"""

from __future__ import annotations

import os
import platform
import re
from dataclasses import asdict, dataclass, field
from functools import cache
from pathlib import Path

CPUINFO = Path("/proc/cpuinfo")
SYSFS_CPU = Path("/sys/devices/system/cpu")

AVX512_KERNEL_FLAGS = frozenset({"avx512f", "avx512bw", "avx512vl", "avx512dq"})  # what the avx512 path emits
AVX2_KERNEL_FLAGS = frozenset({"avx2", "fma"})
CPUFREQ_MAX = "cpuinfo_max_freq"  # the one sysfs file that states the maximum clock


@dataclass(frozen=True)
class Fact:
    """A number and the place it was read from (or why it is unknown: value None)."""

    value: float | int | None
    source: str


@dataclass(frozen=True)
class CpuFacts:
    vendor: str
    family: int | None
    model: int | None
    model_name: str
    flags: frozenset[str] = field(repr=False)
    isa: str                 # the widest kernel path this CPU runs: 'avx512', 'avx2' or 'generic'
    vector_bits: int         # register width of that path
    core_name: Fact          # the microarchitecture, when the table knows the family/model
    fp32_flop_per_cycle: Fact  # per core: FMA units x lanes x 2 (None: not in the table)
    l1d: Fact                # bytes, per core
    l2: Fact                 # bytes, per core
    l3: Fact                 # bytes, total of one cache instance
    cores: Fact
    max_mhz: Fact

    def as_dict(self) -> dict:
        out = asdict(self)
        out["flags"] = sorted(f for f in self.flags if f.startswith(("avx", "fma", "amx", "sse4")))
        return out


def parse_cpuinfo(text: str) -> dict[str, str]:
    """The first processor's 'key: value' lines of /proc/cpuinfo, plus 'cpu MHz max' over all processors."""
    first: dict[str, str] = {}
    mhz: list[float] = []
    for block in text.strip().split("\n\n"):
        fields = {}
        for line in block.splitlines():
            key, sep, value = line.partition(":")
            if sep:
                fields[key.strip()] = value.strip()
        if "cpu MHz" in fields:
            try:
                mhz.append(float(fields["cpu MHz"]))
            except ValueError:
                pass
        first = first or fields
    if mhz:
        first["cpu MHz max"] = str(max(mhz))
    return first


def _int(text: str | None) -> int | None:
    try:
        return int(text, 0) if text is not None else None
    except ValueError:
        return None


def _size_bytes(text: str) -> int | None:
    """'48K' / '2048K' / '32M' (sysfs) to bytes."""
    match = re.fullmatch(r"\s*(\d+)\s*([KMG]?)B?\s*", text, flags=re.I)
    if not match:
        return None
    return int(match.group(1)) * {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30}[match.group(2).upper()]


def read_sysfs_caches(cpu_root: Path = SYSFS_CPU) -> dict[str, int]:
    """{'L1d': bytes, 'L2': ..., 'L3': ...} from cpu0/cache/index*/{level,type,size}; {} when absent."""
    found: dict[str, int] = {}
    for index in sorted((cpu_root / "cpu0" / "cache").glob("index*")):
        try:
            level = (index / "level").read_text().strip()
            kind = (index / "type").read_text().strip()
            size = _size_bytes((index / "size").read_text())
        except OSError:
            continue
        if size is None or kind == "Instruction":
            continue
        found["L1d" if level == "1" else f"L{level}"] = size
    return found


def _sysconf_caches() -> dict[str, int]:
    """glibc computes these from cpuid; 0 or an error where it does not know."""
    names = {"L1d": "SC_LEVEL1_DCACHE_SIZE", "L2": "SC_LEVEL2_CACHE_SIZE", "L3": "SC_LEVEL3_CACHE_SIZE"}
    found = {}
    for level, name in names.items():
        try:
            value = os.sysconf(name)
        except (ValueError, OSError, AttributeError):
            continue
        if value and value > 0:
            found[level] = value
    return found


def read_max_mhz(cpu_root: Path = SYSFS_CPU) -> float | None:
    try:
        return int((cpu_root / "cpu0" / "cpufreq" / CPUFREQ_MAX).read_text()) / 1000
    except (OSError, ValueError):
        return None


# fp32 FLOP per cycle per core = FMA units x fp32 lanes per unit x 2, for cores whose FMA datapath is documented
# (AMD's and Intel's optimisation manuals; Agner Fog's microarchitecture tables).
def _amd_core(family: int, model: int) -> tuple[str, int | None, str]:
    if family == 0x17:
        if model < 0x30:
            return "Zen / Zen+", 16, "2 x 128-bit FMA units"
        return "Zen 2", 32, "2 x 256-bit FMA units"
    if family == 0x19:
        if 0x10 <= model <= 0x1F or 0x60 <= model <= 0x7F or 0xA0 <= model <= 0xAF:
            return "Zen 4", 32, "2 x 256-bit FMA units; a 512-bit FMA runs as two halves"
        return "Zen 3", 32, "2 x 256-bit FMA units"
    if family == 0x1A:
        if model <= 0x1F or 0x40 <= model <= 0x4F:
            return "Zen 5 (server/desktop)", 64, "2 x 512-bit FMA units"
        return "Zen 5 (mobile)", 32, "2 x 256-bit FMA units (512-bit ops double-pumped)"
    return f"AMD family {family:#x}", None, "not in mark1's table"


INTEL_CLIENT_AVX512 = {0x66: "Cannon Lake", 0x7D: "Ice Lake", 0x7E: "Ice Lake", 0x8C: "Tiger Lake",
                       0x8D: "Tiger Lake", 0xA7: "Rocket Lake"}
INTEL_SERVER_AVX512 = {0x55: "Skylake-SP / Cascade Lake", 0x6A: "Ice Lake-SP", 0x6C: "Ice Lake-D",
                       0x8F: "Sapphire Rapids", 0xCF: "Emerald Rapids", 0xAD: "Granite Rapids",
                       0xAE: "Granite Rapids-D"}


def _intel_core(model: int, flags: frozenset[str]) -> tuple[str, int | None, str]:
    if "amx_tile" in flags:  # AMX exists only on the server cores (Sapphire Rapids on), whatever a VM reports
        return "Sapphire Rapids class (AMX)", 64, "2 x 512-bit FMA units (AMX server core)"
    if "avx512f" in flags:
        if model in INTEL_SERVER_AVX512:
            # most Xeon Scalable SKUs have the second 512-bit unit; some Silver/Bronze parts do not
            return INTEL_SERVER_AVX512[model], 64, "2 x 512-bit FMA units (Xeon Scalable)"
        name = INTEL_CLIENT_AVX512.get(model, f"Intel model {model:#x} with AVX-512")
        return name, 32, "1 x 512-bit FMA unit (ports 0+1 fused; the lower bound for AVX-512 parts)"
    if AVX2_KERNEL_FLAGS <= flags:
        return f"Intel model {model:#x} (AVX2)", 32, "2 x 256-bit FMA units (every Intel AVX2+FMA core since Haswell)"
    return f"Intel model {model:#x}", None, "no FMA: not in mark1's table"


def _core(vendor: str, family: int | None, model: int | None, flags: frozenset[str]) -> tuple[Fact, Fact]:
    if family is None or model is None:
        return Fact(None, "unknown: no cpu family/model in /proc/cpuinfo"), Fact(None, "unknown CPU")
    if vendor in ("AuthenticAMD", "HygonGenuine"):
        name, flop, why = _amd_core(family, model)
    elif vendor == "GenuineIntel" and family == 6:
        name, flop, why = _intel_core(model, flags)
    else:
        name, flop, why = f"{vendor} family {family} model {model}", None, "not in mark1's table"
    where = f"{vendor} family {family:#x} model {model:#x}"
    flop_fact = Fact(flop, f"{why}: {where}" if flop else f"unknown: {where} is not in mark1's table")
    return Fact(name, where), flop_fact


def best_isa(flags: frozenset[str]) -> tuple[str, int]:
    if AVX512_KERNEL_FLAGS <= flags:
        return "avx512", 512
    if AVX2_KERNEL_FLAGS <= flags:
        return "avx2", 256
    return "generic", 128


def detect(cpuinfo_text: str, cpu_root: Path = SYSFS_CPU, cores: int | None = None,
           sysconf_fallback: bool = True) -> CpuFacts:
    """Everything CpuFacts holds, from /proc/cpuinfo's text and a sysfs cpu directory."""
    info = parse_cpuinfo(cpuinfo_text)
    flags = frozenset((info.get("flags") or info.get("Features") or "").split())
    vendor = info.get("vendor_id", "unknown")
    family, model = _int(info.get("cpu family")), _int(info.get("model"))
    core_name, flop = _core(vendor, family, model, flags)
    isa, bits = best_isa(flags)

    caches, cache_source = read_sysfs_caches(cpu_root), f"{cpu_root}/cpu0/cache"
    if not caches and sysconf_fallback:
        caches, cache_source = _sysconf_caches(), "sysconf (glibc, from cpuid)"

    def cache_fact(level: str) -> Fact:
        return Fact(caches[level], cache_source) if level in caches else Fact(None, "unknown: not exposed")

    if cores is None:
        cores_fact = Fact(cpu_count(), "sched_getaffinity (CPUs this process may use)")
    else:
        cores_fact = Fact(cores, "given")
    max_mhz = read_max_mhz(cpu_root)
    if max_mhz is not None:
        mhz = Fact(max_mhz, f"{cpu_root}/cpu0/cpufreq/{CPUFREQ_MAX}")
    elif "cpu MHz max" in info:
        mhz = Fact(float(info["cpu MHz max"]), "/proc/cpuinfo 'cpu MHz' (current clock; no cpufreq max exposed)")
    elif match := re.search(r"@\s*([\d.]+)\s*GHz", info.get("model name", "")):
        mhz = Fact(float(match.group(1)) * 1000, "the GHz in the CPU model name (base clock)")
    else:
        mhz = Fact(None, "unknown: no cpufreq, no 'cpu MHz', no GHz in the model name")
    return CpuFacts(vendor=vendor, family=family, model=model, model_name=info.get("model name", "unknown CPU"),
                    flags=flags, isa=isa, vector_bits=bits, core_name=core_name, fp32_flop_per_cycle=flop,
                    l1d=cache_fact("L1d"), l2=cache_fact("L2"), l3=cache_fact("L3"), cores=cores_fact, max_mhz=mhz)


@cache
def cpu_facts() -> CpuFacts:
    """This machine's facts (read once per process)."""
    try:
        text = CPUINFO.read_text()
    except OSError:
        text = ""
    return detect(text)


@cache
def cpu_model() -> str:
    name = cpu_facts().model_name
    if name != "unknown CPU":
        return name
    return platform.processor() or platform.machine() or "unknown CPU"


def cpu_count() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
