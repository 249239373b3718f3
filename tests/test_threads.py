"""Which threading layer numba's kernels run on: tbb where its wheel is installed and the user chose none
(mark1/threads.py says why), and always the user's choice when NUMBA_THREADING_LAYER is set."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys

import pytest

SCRIPT = ("import numba, numpy as np, mark1 as m1; m1.use('numba'); a = np.ones((300, 300), np.float32); "
          "m1.matmul(a, a); print(numba.threading_layer())")


def _layer(**env) -> str:
    run_env = {k: v for k, v in os.environ.items() if k != "NUMBA_THREADING_LAYER"} | env
    done = subprocess.run([sys.executable, "-c", SCRIPT], env=run_env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return done.stdout.split()[-1]


@pytest.mark.skipif(importlib.util.find_spec("tbb") is None and not any(
    os.path.exists(os.path.join(p, "lib", "libtbb.so.12")) for p in (sys.prefix, sys.base_prefix)),
    reason="the tbb wheel is not installed here")
def test_tbb_is_chosen_when_installed_and_the_user_chose_no_layer():
    assert _layer() == "tbb"


def test_the_users_threading_layer_is_kept():
    assert _layer(NUMBA_THREADING_LAYER="omp") == "omp"


def test_kernel_threads_follows_every_way_of_setting_the_count():
    """The kernels' fast getter reads numba's own thread-local count: it follows m1.set_num_threads,
    numba.set_num_threads called directly, and another thread's count stays its own."""
    import threading

    import numba

    import mark1 as m1
    from mark1.threads import kernel_threads

    limit = numba.config.NUMBA_NUM_THREADS
    before = m1.get_num_threads()
    try:
        assert kernel_threads() == before
        m1.set_num_threads(1)
        assert kernel_threads() == 1
        numba.set_num_threads(limit)
        assert kernel_threads() == limit
        seen = []
        worker = threading.Thread(target=lambda: (numba.set_num_threads(1), seen.append(kernel_threads())))
        worker.start()
        worker.join()
        assert seen == [1] and kernel_threads() == limit
    finally:
        m1.set_num_threads(before)
