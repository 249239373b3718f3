"""The kernel cache: in the user's cache directory, keyed by the kernel sources, emptied by `mark1 cache clear`."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numba
import pytest

from mark1 import cache, cli

PACKAGE = Path(cache.__file__).resolve().parent
SIGMOID_AT_0 = "import numpy as np, mark1 as m1; m1.use('numba'); print(float(m1.sigmoid(np.zeros(3, np.float32))[0]))"


def _run_copy(root: Path, cache_dir: Path) -> float:
    env = {k: v for k, v in os.environ.items() if k not in ("NUMBA_CACHE_DIR", "MARK1_ISA", "MARK1_BACKEND")}
    env.update(PYTHONPATH=str(root), MARK1_CACHE_DIR=str(cache_dir))
    done = subprocess.run([sys.executable, "-c", SIGMOID_AT_0], cwd=root, env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    return float(done.stdout.split()[-1])


def test_editing_a_helper_module_recompiles_what_inlines_it_and_nothing_is_written_into_the_package(tmp_path):
    """sigmoid inlines expmath's exp from another file: numba alone would load the stale machine code."""
    root, cache_dir = tmp_path / "site", tmp_path / "cache"
    shutil.copytree(PACKAGE, root / "mark1", ignore=shutil.ignore_patterns("__pycache__"))
    before = sorted(p.relative_to(root) for p in root.rglob("*"))
    assert _run_copy(root, cache_dir) == 0.5
    cached = list(cache_dir.rglob("*.nbi"))
    assert cached and all(p.relative_to(cache_dir).parts[1] == "numba" for p in cached)   # kernels-*/numba/
    # only Python's own bytecode may appear in the package (pip installs that anyway)
    after = sorted(p.relative_to(root) for p in root.rglob("*") if "__pycache__" not in p.parts)
    assert after == before
    assert not [p for p in root.rglob("*") if p.suffix in (".nbi", ".nbc")]

    expmath = root / "mark1" / "kernels" / "cpu" / "expmath.py"
    source = expmath.read_text()
    assert source.count("p = F32_ONE + r + (r * r) * q") == 2
    expmath.write_text(source.replace("p = F32_ONE + r + (r * r) * q", "p = (F32_ONE + r + (r * r) * q) * F32_ONE * 2"))
    assert _run_copy(root, cache_dir) == pytest.approx(1 / 3)   # e^0 is now 2: sigmoid(0) = 1/(1+2)
    assert len([p for p in cache_dir.iterdir() if p.name.startswith(cache.KERNEL_DIR_PREFIX)]) == 2


def test_cache_location_overrides(monkeypatch, tmp_path):
    monkeypatch.setenv("MARK1_CACHE_DIR", str(tmp_path / "c"))
    monkeypatch.delenv("MARK1_ISA", raising=False)
    assert cache.cache_root() == tmp_path / "c"
    native = cache.kernel_cache_dir()
    assert native.parent == tmp_path / "c" and native.name.startswith("kernels-")
    monkeypatch.setenv("MARK1_ISA", "avx2")
    assert cache.kernel_cache_dir() != native and "-avx2-" in cache.kernel_cache_dir().name
    monkeypatch.setattr(numba.config, "CACHE_DIR", str(tmp_path / "numba"))   # what NUMBA_CACHE_DIR sets
    # the user's location wins, the key still applies
    assert cache.numba_cache_dir() == tmp_path / "numba" / "mark1" / cache.kernel_cache_dir().name
    monkeypatch.setattr(numba.config, "CACHE_LOCATOR_CLASSES", "InTreeCacheLocator", raising=False)
    assert cache.numba_cache_dir() is None and "LOCATOR" in cache.describe()["numba"]
    monkeypatch.delenv("MARK1_CACHE_DIR")
    assert cache.cache_root().name == "mark1"


def test_kernels_of_this_process_are_cached_outside_the_package():
    from mark1.kernels.cpu.elementwise import _forward_flat

    locator = _forward_flat.dispatcher._cache._impl._locator
    assert Path(locator.get_cache_path()).is_relative_to(cache.numba_cache_dir())


def test_cache_clear_removes_kernel_folders_only(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("MARK1_CACHE_DIR", str(tmp_path))
    for name in ("kernels-0.0.9-native-aaaa", "kernels-0.1.0-avx2-bbbb"):
        (tmp_path / name / "numba").mkdir(parents=True)
        (tmp_path / name / "numba" / "k.nbc").write_bytes(b"x" * 1000)
    (tmp_path / "mine.txt").write_text("not ours")
    assert cli.main(["cache"]) == 0
    assert f"{tmp_path} (2.0 kB in 2 kernel folder(s))" in capsys.readouterr().out
    assert cli.main(["cache", "clear"]) == 0
    assert "removed 2 kernel folder(s)" in capsys.readouterr().out
    assert [p.name for p in tmp_path.iterdir()] == ["mine.txt"]
    assert cli.main(["info"]) == 0 and f"cache: {tmp_path} (0 B in 0 kernel folder(s))" in capsys.readouterr().out
