"""mark1's worker threads (kernels/cpu/workers.py): every chunk of every job runs exactly once, on any path."""

from __future__ import annotations

import multiprocessing
import time

import numpy as np
import pytest

from mark1.kernels.cpu import workers

pytestmark = pytest.mark.skipif(not workers.AVAILABLE, reason="mark1's workers need Linux on x86-64")


@pytest.fixture(scope="module")
def counting_task():
    """A task adding 1 to counts[chunk] (counts rebuilt from the parameter block), and its launcher."""
    from numba import cfunc, types

    from mark1.kernels.cpu._atomics import array_at
    from mark1.kernels.cpu._jit import jit

    counts_type = types.int64[::1]

    @cfunc(workers.TASK_SIGNATURE)
    def task(params, chunk):
        counts = array_at(params, 0, counts_type)
        counts[chunk] += 1

    @jit
    def launch(counts, control, address, jobs, threads):
        params = np.empty(3, np.int64)
        workers.put_array(params, 0, counts)
        for _ in range(jobs):
            workers.run(control, address, params, counts.shape[0], threads)

    return task.address, launch


@pytest.mark.parametrize("chunks", [1, 2, 3, 17, 64])
@pytest.mark.parametrize("threads", [1, 2])
def test_every_chunk_once_per_job(counting_task, chunks, threads):
    address, launch = counting_task
    counts = np.zeros(chunks, np.int64)
    launch(counts, workers.control(), address, 2000, threads)
    assert (counts == 2000).all(), counts


def test_sleeping_workers_wake_for_the_next_job(counting_task):
    address, launch = counting_task
    control = workers.control()
    counts = np.zeros(8, np.int64)
    for _ in range(5):
        time.sleep(0.01)  # far past the spin: the workers are asleep on the futex
        launch(counts, control, address, 1, 2)
    assert (counts == 5).all()
    assert control[workers.BUSY] == 0


def test_a_busy_pool_runs_the_job_on_the_caller(counting_task):
    """What a second Python thread's job, or a job started inside a task, finds: the chunks run here."""
    address, launch = counting_task
    control = workers.control()
    counts = np.zeros(5, np.int64)
    control[workers.BUSY] = 1
    try:
        launch(counts, control, address, 3, 2)
    finally:
        control[workers.BUSY] = 0
    assert (counts == 3).all()


def _sigmoid_in_child(queue):
    import mark1 as m1

    x = np.linspace(-8, 8, 1 << 18, dtype=np.float32)
    with m1.backend("numba"):
        queue.put(float(np.abs(m1.sigmoid(x) - 1 / (1 + np.exp(-x.astype(np.float64)))).max()))


def test_a_forked_child_starts_its_own_workers():
    import mark1 as m1

    with m1.backend("numba"):
        m1.sigmoid(np.ones(1 << 18, np.float32))  # the parent's workers exist before the fork
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    child = context.Process(target=_sigmoid_in_child, args=(queue,))
    child.start()
    child.join(60)
    assert child.exitcode == 0
    assert queue.get(timeout=5) < 1e-6


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("n", [(1 << 16) + 7, 5 * 16384, 1 << 18])
def test_pooled_activations_equal_the_serial_kernels(dtype, n):
    """Chunks on two threads give the same bits as one pass on one thread, forward and backward."""
    import mark1 as m1
    from mark1.kernels.cpu import elementwise as ew

    rng = np.random.default_rng(n)
    x = (rng.standard_normal(n) * 4).astype(dtype)
    dy = rng.standard_normal(n).astype(dtype)
    for name in ("sigmoid", "tanh", "relu"):
        code = ew.ACTIVATION_CODES[name]
        serial_y, serial_dx = np.empty_like(x), np.empty_like(x)
        ew._forward_flat.run(True, x, serial_y, code)
        ew._backward_flat.run(True, serial_y, dy, serial_dx, code)
        threads = m1.get_num_threads()
        with m1.backend("numba"):
            m1.set_num_threads(2)
            try:
                y = getattr(m1, name)(x)
                dx = getattr(m1, f"{name}_backward")(y, dy)
            finally:
                m1.set_num_threads(threads)
        np.testing.assert_array_equal(y, serial_y, err_msg=name)
        np.testing.assert_array_equal(dx, serial_dx, err_msg=name)


@pytest.mark.parametrize("shape", [(512, 512, 512), (128, 256, 128), (256, 784, 128), (37, 300, 129), (300, 50, 10)])
def test_pooled_gemm_equals_the_serial_kernel(shape):
    """Row split, column split (op(a) read in place, small next to B) and edge tiles, called repeatedly: the
    packed B buffer lives only in the parameter block, so a job that outlived it would read freed memory."""
    from mark1.kernels.cpu import dense, gemm, gemm_pooled

    m, k, n = shape
    rng = np.random.default_rng(m * k + n)
    a = rng.standard_normal((m, k)).astype(np.float32)
    b = rng.standard_normal((k, n)).astype(np.float32)
    y = rng.uniform(0.1, 0.9, (m, n)).astype(np.float32)
    bias = rng.standard_normal(n).astype(np.float32)
    expected = np.empty((m, n), np.float32)
    empty = np.empty(0, np.float32)
    with gemm.thresholds(serial_work=1 << 40):
        kernel = gemm.PACKED_KERNELS[True, gemm.reads_a_in_place(a, 0, n)]
        kernel.run(True, a, a, 0, b, b, 0, expected, bias, 1, empty, 1, empty)
        expected_dw, expected_db = np.empty((k, n), np.float32), np.zeros(n, np.float32)
        gemm.PACKED_KERNELS[True, False].run(True, a.T, a.T, 0, y, y, 1, expected_dw, empty, 0, expected_db, 1, empty)
    for _ in range(4):
        out = np.empty((m, n), np.float32)
        gemm_pooled.gemm_pooled(True, gemm.reads_a_in_place(a, 0, n), a, a, 0, b, b, 0, out, bias, 1, empty, 2)
        np.testing.assert_array_equal(out, expected)
        dw, db = np.empty((k, n), np.float32), np.zeros(n, np.float32)
        dense.gemm(a.T, y, dw, b2=y, b_code=1, colsum=db)  # the fused backward's dW (and db) on the workers
        np.testing.assert_array_equal(dw, expected_dw)
        np.testing.assert_array_equal(db, expected_db)


@pytest.mark.parametrize("shape", [(256, 128, 64), (128, 256, 128), (37, 300, 129), (64, 784, 10)])
def test_pooled_gemm_packs_per_task_or_shared_alike(shape, monkeypatch):
    """With one task per thread each task may pack its own B panels (columns split: only its own; rows split:
    all of a small B) instead of sharing one packing job: the same products, the fused backward's column
    sums (db) counted once, whichever way, and equal to the serial kernel."""
    from mark1.kernels.cpu import gemm, gemm_pooled

    m, k, n = shape
    rng = np.random.default_rng(m + k + n)
    a = rng.standard_normal((m, k)).astype(np.float32)
    b = rng.standard_normal((k, n)).astype(np.float32)
    y = rng.uniform(0.1, 0.9, (k, n)).astype(np.float32)  # op(b) = b * y(1 - y): the backward's delta
    empty = np.empty(0, np.float32)
    in_place = gemm.reads_a_in_place(a, 0, n)
    expected, expected_db = np.empty((m, n), np.float32), np.zeros(n, np.float32)
    gemm.PACKED_KERNELS[True, in_place].run(True, a, a, 0, b, y, 1, expected, empty, 0, expected_db, 1, empty)
    for limit in (0, 1 << 40):  # never / always small enough to pack per task
        monkeypatch.setattr(gemm_pooled, "SELF_PACK_BYTES", limit)
        for with_db in (True, False, True):  # column sums keep a row split on one shared packing
            out, db = np.empty((m, n), np.float32), np.zeros(n, np.float32)
            gemm_pooled.gemm_pooled(True, in_place, a, a, 0, b, y, 1, out, empty, 0, db if with_db else empty, 2)
            np.testing.assert_array_equal(out, expected)
            np.testing.assert_array_equal(db, expected_db if with_db else 0)


def test_a_short_product_leaves_sleeping_workers_asleep_and_wakes_them_only_for_what_follows(monkeypatch):
    """threads_for's wake rule, on a stand-in control block: below wake_below with every worker asleep the
    product runs on the caller (0 threads); the sleepers are woken for later products unless they sleep
    because another thread holds their core (CONTENDED_UNTIL ahead of the cycle counter)."""
    if workers.WORKERS == 0:
        pytest.skip("no workers on this machine")
    from mark1.threads import kernel_threads

    woken = []
    monkeypatch.setattr(workers, "_wake", lambda control: woken.append(True))
    control = np.zeros(workers.CONTROL_SIZE, np.int64)
    monkeypatch.setattr(workers.POOL, "control", control)
    threads = min(kernel_threads(), workers.WORKERS + 1)
    expected = threads if threads > 1 else 0
    assert workers.threads_for(100, 10, wake_below=1000) == expected    # awake: the usual answer
    control[workers.SLEEPERS] = workers.WORKERS
    assert workers.threads_for(100, 10, wake_below=1000) == 0 and woken == [True]   # idle sleepers: woken
    control[workers.CONTENDED_UNTIL] = np.iinfo(np.int64).max
    assert workers.threads_for(100, 10, wake_below=1000) == 0 and woken == [True]   # contended: left asleep
    assert workers.threads_for(5000, 10, wake_below=1000) == expected   # long enough to wake them for
    assert workers.threads_for(5, 10, wake_below=1000) == 0            # below the serial threshold anyway


def test_gemm_thresholds_turn_the_wake_rule_off():
    from mark1.kernels.cpu import gemm

    before = gemm.WAKE_WORK
    with gemm.thresholds(pooled_work=0):
        assert gemm.WAKE_WORK == 0
    assert gemm.WAKE_WORK == before > 0
