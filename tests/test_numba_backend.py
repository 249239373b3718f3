"""numba-specific behaviour: registry entry, `auto` choice, thread count, on-disk kernel cache."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import mark1 as m1
from mark1.backends import unavailable_reason

pytestmark = pytest.mark.skipif(unavailable_reason("numba") is not None, reason=f"numba: {unavailable_reason('numba')}")

ROOT = Path(__file__).resolve().parents[1]


def test_numba_is_usable_and_auto_prefers_it_without_a_gpu():
    assert "numba" in m1.available_backends()
    be = m1.backends.resolve("numba")
    assert be.name == "numba" and be.xp is np
    assert be.device.startswith("cpu: ") and "threads)" in be.device
    if unavailable_reason("cuda") is not None:
        assert m1.backends.resolve("auto").name == "numba"


def test_unknown_option_is_refused():
    from mark1.backends import ops_numba

    with pytest.raises(TypeError, match="only the option 'threads'"):
        ops_numba.create(block=64)


def test_results_do_not_depend_on_thread_count():
    """Each output tile is computed by one thread in a fixed order, so 1 and N threads agree bit for bit."""
    import numba

    rng = np.random.default_rng(5)
    a, b = rng.standard_normal((300, 260)).astype(np.float32), rng.standard_normal((260, 90)).astype(np.float32)
    x = rng.standard_normal((97, 31)).astype(np.float32)
    before = numba.get_num_threads()
    results = []
    try:
        for threads in sorted({1, numba.config.NUMBA_NUM_THREADS}):
            m1.set_num_threads(threads)
            assert numba.get_num_threads() == threads
            with m1.backend("numba"):
                results.append((m1.matmul(a, b), m1.sigmoid(x), m1.softmax(x)))
    finally:
        numba.set_num_threads(before)
    for got, first in zip(results[-1], results[0], strict=True):
        np.testing.assert_array_equal(got, first)


def test_set_num_threads_rejects_out_of_range():
    import numba

    with pytest.raises(ValueError, match="NUMBA_NUM_THREADS"):
        m1.set_num_threads(numba.config.NUMBA_NUM_THREADS + 1)


def test_every_kernel_is_cached_on_disk():
    """cache=True everywhere: a second process loads machine code instead of compiling."""
    from numba.core.caching import NullCache
    from numba.core.registry import CPUDispatcher

    import mark1.kernels.cpu as cpu
    from mark1.kernels.cpu._jit import PerDtype

    modules = [m for name, m in vars(cpu).items() if type(m).__name__ == "module" and not name.startswith("__")]
    modules += [__import__(f"mark1.kernels.cpu.{n}", fromlist=["x"]) for n in ("gemm", "rows", "losses", "optim")]
    found = 0
    for module in modules:
        for name, obj in vars(module).items():
            dispatcher = obj.dispatcher if isinstance(obj, PerDtype) else obj
            if isinstance(dispatcher, CPUDispatcher):
                assert not isinstance(dispatcher._cache, NullCache), f"{module.__name__}.{name} has no cache=True"
                found += 1
    assert found >= 15


@pytest.mark.slow
def test_second_process_loads_kernels_from_cache(tmp_path):
    script = textwrap.dedent("""
        import json, time
        import numpy as np
        import mark1 as m1
        from mark1.kernels.cpu.gemm import PACKED_KERNELS
        m1.use("numba")
        x = np.ones((4, 4), np.float32)
        start = time.perf_counter()
        m1.matmul(x, x)
        print(json.dumps({"seconds": time.perf_counter() - start,
                          "hits": sum(sum(d.stats.cache_hits.values()) for k in PACKED_KERNELS.values()
                                      for d in (k.dispatcher, k.serial))}))
    """)
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path), "PYTHONPATH": str(ROOT)}
    runs = [subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True)
            for _ in range(2)]
    import json

    first, second = (json.loads(r.stdout.strip().splitlines()[-1]) for r in runs)
    assert first["hits"] == 0 and second["hits"] >= 1
    assert second["seconds"] < first["seconds"]


def test_read_only_inputs_are_accepted():
    """np.asarray(PIL image) and np.broadcast_to views are read-only: inputs must not need to be writable."""
    rng = np.random.default_rng(9)
    a, b = rng.standard_normal((40, 30)).astype(np.float32), rng.standard_normal((30, 20)).astype(np.float32)
    img1, img2 = rng.integers(0, 256, (9, 7, 3), dtype=np.uint8), rng.integers(0, 256, (9, 7, 3), dtype=np.uint8)
    labels = rng.integers(0, 20, 40)
    for x in (a, b, img1, img2, labels):
        x.flags.writeable = False
    with m1.backend("numba"):
        np.testing.assert_allclose(m1.matmul(a, b), a.astype(np.float64) @ b, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(m1.sigmoid(a), 1 / (1 + np.exp(-a.astype(np.float64))), rtol=1e-6)
        np.testing.assert_array_equal(m1.image_diff(img1, img2),
                                      np.abs(img1.astype(int) - img2.astype(int)).max(axis=2))
        loss, grad = m1.softmax_cross_entropy(m1.matmul(a, b), labels)
        assert np.isfinite(float(loss)) and grad.shape == (40, 20)
