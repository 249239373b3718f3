"""`mark1 bench`: workloads × contenders (mark1 backends, NumPy, PyTorch, CuPy), timed and checked.

workloads.py  what is computed, sizes, work per call, float64 oracle   contenders.py  who runs (registry + references)
references.py NumPy / CuPy / torch implementations                    timing.py      first call, medians, CUDA events
machine.py    hardware, versions, threads, peaks, bandwidth           runner.py      the loop: check, time, ratios
results.py    the JSON schema (documented there), save / load         table.py       console table
report.py     markdown table + PNG plot of one or more results files  cli.py         `mark1 bench [report]`
plots.py      the PNG: throughput and ratio-to-reference panels        gpu.py         GPU variants, --gpu sizes, ncu
isolate.py    --isolate: each contender in its own process

It is the only harness: bench/gpu_run.sh runs `mark1 bench --gpu`, and bench/test_*.py (pytest-benchmark)
are thin wrappers over the same workloads and contenders.
"""
