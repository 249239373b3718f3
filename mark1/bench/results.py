"""The results file `bench/results/<machine>.json`: its schema, writing it, and reading it back with checks.

Any program that writes this shape can be drawn by `mark1 bench report` (the GPU run script does). Schema
"mark1-bench/1", a JSON object:

    schema      "mark1-bench/1"
    machine     slug of CPU model, core name, kernel path and core count (+ "_" + GPU name), e.g.
                "amd-epyc-zen-5-avx512-2c" or
                "intel-xeon-platinum-8480-sapphire-rapids-class-avx512-26c_nvidia-h100-80gb-hbm3" (older files:
                "amd-epyc-2c"); no hostname
    created     ISO-8601 UTC time;  command: the argv list that produced it;  suite: "quick" | "full" | "custom"
    hardware    {cpu_model, cpu_count, memory_bytes, machine, gpu: null | {name, memory_bytes,
                 compute_capability, sms, clock_mhz, cuda_driver}}
    versions    {python, mark1, numpy, numba, cupy, torch, blas, cuda_driver}  (null where not installed)
    threads     {requested, numpy_blas, numba, torch}: the CPU thread count every contender was given
    peaks       {"cpu": {flop_per_s, formula, bytes_per_s, bandwidth_method, ...},
                 "gpu": null | {flop_per_s, formula, source, bytes_per_s, bandwidth_method}}
    contenders  [{name, device: "cpu" | "gpu", description}]
    skipped     [{name, reason}]: contenders that could not run here
    interrupted true when the run was stopped (Ctrl-C) and `figures` holds only what was measured by then
    figures     one per (workload, size, contender):
      workload, size (label), dims [ints], x (number on the plot's x axis), x_label, dtype "float32",
      contender, device, unit ("GFLOP/s" | "GB/s" | "steps/s"), work (FLOP or bytes per call), work_kind,
      status: "ok" | "wrong" (failed the correctness check: not timed) | "error" (raised: message in `error`),
      error (max error relative to the result's scale, float; null if not checked),
      first_call_s, seconds {median, min, max, q1, q3} per call, repeats, number (calls per repeat),
      value (throughput at the median time, in unit), value_min / value_max (at the max / min time),
      reference (name of the same-device reference), ratio_to_reference, ratio_to_torch (value / theirs;
      null when that contender did not run), peak_value (the hardware peak in `unit` for this size),
      fraction_of_peak (value / peak_value)
"""

from __future__ import annotations

import json
from pathlib import Path

SCHEMA = "mark1-bench/1"
TOP_KEYS = ("schema", "machine", "hardware", "versions", "peaks", "figures")
FIGURE_KEYS = ("workload", "size", "x", "contender", "device", "unit", "status", "value")


class ResultsFileError(ValueError):
    """A results file that cannot be read as mark1 benchmark results; the message names the file."""


def save(results: dict, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(results, indent=1, allow_nan=False)
    path.write_text(text + "\n")
    return path


def load(path: str | Path) -> dict:
    """Read and validate a results file; anything else raises ResultsFileError naming the file and the problem."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except OSError as e:
        raise ResultsFileError(f"{path}: cannot read it ({e.strerror or e})") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ResultsFileError(f"{path}: not valid JSON ({e})") from None
    validate(data, str(path))
    return data


def validate(data: object, where: str) -> None:
    if not isinstance(data, dict):
        raise ResultsFileError(f"{where}: expected a JSON object with schema {SCHEMA!r}, got {type(data).__name__}")
    schema = data.get("schema")
    if isinstance(schema, str) and schema.startswith("mark1-bench/") and schema != SCHEMA:
        raise ResultsFileError(f"{where}: results schema {schema!r} is from another mark1 version; this one reads "
                               f"{SCHEMA!r}")
    if schema != SCHEMA:
        raise ResultsFileError(
            f"{where}: not a mark1 benchmark results file (schema is {data.get('schema')!r}, expected {SCHEMA!r})"
        )
    missing = [k for k in TOP_KEYS if k not in data]
    if missing:
        raise ResultsFileError(f"{where}: missing keys {', '.join(missing)}")
    if not isinstance(data["figures"], list):
        raise ResultsFileError(f"{where}: 'figures' must be a list")
    for i, fig in enumerate(data["figures"]):
        if not isinstance(fig, dict):
            raise ResultsFileError(f"{where}: figures[{i}] is not an object")
        lacking = [k for k in FIGURE_KEYS if k not in fig]
        if lacking:
            raise ResultsFileError(f"{where}: figures[{i}] lacks {', '.join(lacking)}")
        if fig["status"] == "ok" and not isinstance(fig["value"], int | float):
            raise ResultsFileError(f"{where}: figures[{i}] has status ok but value {fig['value']!r}")
