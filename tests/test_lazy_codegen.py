"""_lazy_codegen: a jit_internal helper gets no machine code of its own, yet every caller works, from a fresh
cache, from a cache the helper was stored in as bitcode, and with the patch turned off on either side."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PROBE = textwrap.dedent("""
    import json, sys
    from mark1.kernels.cpu import _lazy_codegen
    from mark1.kernels.cpu._jit import jit, jit_internal

    @jit_internal
    def helper(x):
        return x * 2.0 + 1.0

    @jit
    def caller(x):
        return helper(x) + 1.0

    @jit
    def other_caller(x):
        return helper(x) * 3.0

    value = (caller if sys.argv[1] == "caller" else other_caller)(1.5)
    if not helper.signatures:  # the caller came from the cache whole: the helper was never needed
        print(json.dumps({"value": value, "pending": None}))
        sys.exit()
    cres = helper.overloads[helper.signatures[0]]
    pending = _lazy_codegen.is_pending(cres.library)
    address = 0
    if sys.argv[2] == "pointer":  # a pointer asked for a function it defines: machine code after all
        address = cres.library.get_pointer_to_function(cres.fndesc.llvm_func_name)
    print(json.dumps({"value": value, "pending": pending, "address": address,
                      "still_pending": _lazy_codegen.is_pending(cres.library)}))
""")


def _probe(tmp_path: Path, which: str, cache: str, lazy: bool = True, pointer: bool = False) -> dict:
    script = tmp_path / "probe_module.py"
    script.write_text(PROBE)
    env = {k: v for k, v in os.environ.items() if k not in ("MARK1_LAZY_CODEGEN",)}
    env.update(PYTHONPATH=str(ROOT), NUMBA_CACHE_DIR=str(tmp_path / cache), MARK1_CACHE_DIR=str(tmp_path / "m1"))
    if not lazy:
        env["MARK1_LAZY_CODEGEN"] = "0"
    done = subprocess.run([sys.executable, str(script), which, "pointer" if pointer else "-"], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("pointer", [False, True])
def test_a_helper_links_into_its_callers_without_machine_code_of_its_own(tmp_path, pointer):
    first = _probe(tmp_path, "caller", "c", pointer=pointer)
    assert first["value"] == 5.0 and first["pending"]
    if pointer:
        assert first["address"] != 0 and not first["still_pending"]
    # a new caller in a new process: the helper comes from the cache (stored as bitcode), still pending
    second = _probe(tmp_path, "other", "c")
    assert second == {"value": 12.0, "pending": True, "address": 0, "still_pending": True}
    # both callers cached now: an eager process loads them whole
    assert _probe(tmp_path, "caller", "c", lazy=False) == {"value": 5.0, "pending": None}
    # and compiles a new caller against the helper stored as bitcode
    shutil.rmtree(tmp_path / "c")
    _probe(tmp_path, "caller", "c")
    assert _probe(tmp_path, "other", "c", lazy=False)["value"] == 12.0


def test_turned_off_everything_compiles_as_numba_does_and_a_lazy_process_reads_that_cache(tmp_path):
    eager = _probe(tmp_path, "caller", "e", lazy=False)
    assert eager["value"] == 5.0 and not eager["pending"]
    later = _probe(tmp_path, "other", "e")   # the helper loaded from object code: nothing left to defer
    assert later["value"] == 12.0 and not later["pending"]
