"""`mark1 bench --isolate`: every contender measured in its own child process (what _tune.py used to offer).

Thread pools of different libraries in one process spin against each other between calls (OpenBLAS,
numba's OpenMP/TBB pool and torch's each busy-wait after a parallel region), and a library imported for one
contender keeps its pool alive while the next is timed. Here each contender runs alone in a fresh
interpreter whose NUMBA_NUM_THREADS, OPENBLAS_NUM_THREADS, OMP_NUM_THREADS and MKL_NUM_THREADS are set to
--threads before anything is imported, so no other library's threads exist while it is timed. The parent
measures the peaks once and hands them to every child, then merges the figures and takes the ratios as usual.

    python -m mark1.bench.isolate SPEC.json OUT.json   # a child: SPEC holds the Options (internal)
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

THREAD_VARS = ("NUMBA_NUM_THREADS", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def measure_each_in_its_own_process(options, contenders: list, peaks: dict, figures: list[dict],
                                    say: Callable[[str], None]) -> None:
    """Append every contender's figures, each measured by a child process; a failed child is said, not fatal."""
    env = {**os.environ, **{var: str(options.threads) for var in THREAD_VARS}}
    with tempfile.TemporaryDirectory(prefix="mark1-bench-") as folder:
        for contender in contenders:
            spec = dataclasses.asdict(options)
            spec.update(backends=[contender.name], exact=True, isolate=False, peaks=peaks, progress=False)
            spec_path, out_path = Path(folder) / f"{contender.name}.spec.json", Path(folder) / f"{contender.name}.json"
            spec_path.write_text(json.dumps(spec))
            say(f"{contender.name}: in its own process, {options.threads} thread(s) for every library")
            done = subprocess.run([sys.executable, "-m", "mark1.bench.isolate", str(spec_path), str(out_path)],
                                  env=env)
            if done.returncode != 0 or not out_path.exists():
                say(f"{contender.name}: its process failed (exit status {done.returncode}); no figures")
                continue
            figures += json.loads(out_path.read_text())["figures"]
    # the order of a run in one process: by workload and size as planned, then contender
    from mark1.bench import runner

    sizes = {(w.name, size.label): i for i, (w, size) in enumerate(runner.plan(options))}
    names = {c.name: i for i, c in enumerate(contenders)}
    figures.sort(key=lambda f: (sizes.get((f["workload"], f["size"]), len(sizes)), names.get(f["contender"], 0)))


def _child(spec_path: str, out_path: str) -> int:
    from mark1.bench import runner

    spec = json.loads(Path(spec_path).read_text())
    if spec.get("sizes"):
        spec["sizes"] = [tuple(pair) for pair in spec["sizes"]]
    def log(line: str) -> None:   # the parent said what is skipped already
        if not line.startswith("skipped "):
            print(line, file=sys.stderr)

    data = runner.run(runner.Options(**spec), log=log)
    Path(out_path).write_text(json.dumps(data, allow_nan=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(_child(*sys.argv[1:3]))
