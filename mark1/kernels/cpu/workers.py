"""mark1's own worker threads for short parallel kernels: a job starts in ~1 us instead of numba's ~6 us.

Why: numba's TBB layer builds a new `tbb::task_arena` (and a scheduler observer) for every parallel region
(numba/np/ufunc/tbbpool.cpp, parallel_for), so a worker has to join a fresh arena each time. Measured on
the 2-vCPU Xeon, two items of 1 000 / 3 000 dependent square roots (10 / 30 us serial): 12.3 / 22.4 us in a
prange on TBB, 7.0 / 17.7 us here. Kernels of 10-50 us (a 2^16 activation, the MLP's narrow products) lost
most of their second thread to that.

How: NUMBA_NUM_THREADS - 1 worker threads (fewer where fewer CPUs are usable) each run `serve` (compiled, no
GIL) for the life of the process. A job is a C function `task(params, chunk)` (a numba cfunc), the address of
an int64 parameter block and a chunk count; `run` publishes it in the control block, then the calling thread
and the workers claim chunks one at a time (a compare-and-swap on a counter tagged with the job's sequence
number, so a late worker can never take a chunk of the next job) until none are left, and the caller waits for
the chunks others took. The caller never waits for a worker to arrive: with every worker asleep it simply runs
all chunks itself.
After its last chunk a worker spins on `pause` for PAUSE_SECONDS, then keeps checking with a sched_yield
between checks until SPIN_SECONDS (not while another thread is seen to want its core), then sleeps on a
futex; `run` wakes sleepers with one system call.
Jobs from a second Python thread, or from inside a task, find the pool busy and run their chunks on the
calling thread. Linux on x86-64 only (futex, rdtsc); elsewhere AVAILABLE is False and callers keep numba's
prange.
"""

from __future__ import annotations

import ctypes
import os
import platform
import sys
import threading
import time

import numba
import numpy as np

from mark1.hardware import cpu_count
from mark1.kernels.cpu._atomics import (
    call_syscall,
    call_task,
    compare_exchange,
    cpu_pause,
    cycle_counter,
    fetch_add,
    load_acquire,
    store_seq_cst,
)
from mark1.kernels.cpu._jit import JIT, PerDtype, jit, jit_inline, renamed
from mark1.threads import kernel_threads

TASK_SIGNATURE = numba.types.void(numba.types.int64, numba.types.int64)  # task(params address, chunk)
SPIN_SECONDS = 250e-6  # bridges the gaps between the kernels of one training step, then the worker sleeps
# ... of which the first PAUSE_SECONDS spin on `pause` alone; after that each check yields the core
# (sched_yield) to any other runnable thread: a worker spinning without yielding on the same core kept
# OpenBLAS's workers (and so numpy.matmul) off it for a whole time slice.
PAUSE_SECONDS = 3e-6
# But OpenBLAS's idle worker spins for ~0.1 s after every NumPy product without yielding (strace shows no
# sched_yield), and each yield handed it the core until the next scheduler tick (4 ms at HZ=250): with
# m1.matmul and numpy.matmul alternating, the worker got 2 of 113 ticks of CPU and m1.matmul ran at one
# thread's speed (1.65-1.74x its time alone, 256x784 . 784x128 on the Xeon). So a yield that returns
# CONTENDED_SECONDS late makes the worker sleep as soon as it is idle, for the next CONTENDED_FOR spin
# periods: woken by the next job's futex call it gets its share of the core (1.15-1.3x alone). Not shorter:
# at 20 us yields inside a training step (numba's TBB workers, the caller sharing the core) counted as
# contended and the step lost 3-5% to wake-ups; a hand-off to a non-yielding spinner lasts until a tick.
CONTENDED_SECONDS = 500e-6
CONTENDED_FOR = 40  # spin periods (10 ms)
# control block slots, one 64-byte line each (int64 indices)
SEQ, CLAIM, DONE, TASK, PARAMS, LIMIT, SLEEPERS, BUSY, SYSCALL, CONTENDED_UNTIL = (8 * k for k in range(10))
CONTROL_SIZE = 8 * 10
# the claim word: the job's sequence number (low 23 bits), the next chunk from the front (lo) and the end of
# the chunks not yet taken from the back (hi): 23 + 20 + 20 bits
CHUNK_BITS, SEQ_SHIFT = 20, 40
CHUNK_MASK, SEQ_MASK = (1 << 20) - 1, (1 << 23) - 1
SYS_SCHED_YIELD, SYS_FUTEX, FUTEX_WAIT_PRIVATE, FUTEX_WAKE_PRIVATE = 24, 202, 128, 129


def _syscall_address() -> int:
    return ctypes.cast(ctypes.CDLL(None).syscall, ctypes.c_void_p).value


@jit
def _claim_and_run(control, seq, from_front):
    """Run chunks of job `seq` until none are left; returns how many this thread ran.

    The caller takes chunks from the front and the workers from the back, so with two threads each runs
    the same half of the array call after call and finds it in its own core's L2 (taking them in one
    order, a 2^16-element relu on two threads was no faster than on one)."""
    task, params = control[TASK], control[PARAMS]
    ran = 0
    while True:
        word = load_acquire(control, CLAIM)
        lo = (word >> CHUNK_BITS) & CHUNK_MASK
        hi = word & CHUNK_MASK
        if (word >> SEQ_SHIFT) != (seq & SEQ_MASK) or lo >= hi:
            return ran
        if from_front:
            chunk, claimed = lo, word + (1 << CHUNK_BITS)
        else:
            chunk, claimed = hi - 1, word - 1
        if compare_exchange(control, CLAIM, word, claimed):
            call_task(task, params, chunk)
            fetch_add(control, DONE, 1)
            ran += 1


@jit
def serve(control, worker, pause_cycles, spin_cycles, contended_cycles):
    """A worker's whole life: take part in every job while worker < LIMIT; spin, then sleep, when idle."""
    seen = load_acquire(control, SEQ)
    last = cycle_counter()
    contended_until = last  # while this is ahead, another thread wants this core: sleep instead of yielding
    word = control.ctypes.data + SEQ * 8
    while True:  # a daemon thread: it ends with the process
        seq = load_acquire(control, SEQ)
        now = cycle_counter()
        if seq != seen:
            seen = seq
            if worker < load_acquire(control, LIMIT):
                _claim_and_run(control, seq, False)
            last = cycle_counter()
        elif now - last < pause_cycles:
            cpu_pause()
        elif now - last < spin_cycles and now >= contended_until:
            call_syscall(control[SYSCALL], SYS_SCHED_YIELD, 0, 0, 0)
            if cycle_counter() - now > contended_cycles:
                # the yield handed the core to another runnable thread (OpenBLAS's spinning worker, say) until
                # the next scheduler tick: yielding again would lose every job's share of this core to it
                contended_until = cycle_counter() + CONTENDED_FOR * spin_cycles
                store_seq_cst(control, CONTENDED_UNTIL, contended_until)  # threads_for reads it
        else:
            fetch_add(control, SLEEPERS, 1)  # a full fence: run() either sees us asleep or we see its job
            if load_acquire(control, SEQ) == seen:
                call_syscall(control[SYSCALL], SYS_FUTEX, word, FUTEX_WAIT_PRIVATE, seen & 0xFFFFFFFF)
            fetch_add(control, SLEEPERS, -1)
            last = cycle_counter()


@jit
def _wake(control):
    """Wake every sleeping worker (run() for its job; threads_for without one: they spin for the jobs that follow)."""
    call_syscall(control[SYSCALL], SYS_FUTEX, control.ctypes.data + SEQ * 8, FUTEX_WAKE_PRIVATE, 1 << 30)


@jit
def run(control, task, params, count, threads):
    """Run task(address of params, c) for c in range(count) on this thread and up to threads - 1 workers;
    returns when every chunk is done. Falls back to this thread alone when the pool is already running a job.

    params (the int64 parameter block) is an argument, not an address, so that it stays alive until every
    chunk is done: numba frees a local array right after its last use, which would be where the caller took
    its address. Any other buffer that only the block points to needs _atomics.keep_alive after the call.
    """
    block = params.ctypes.data
    if threads < 2 or count > CHUNK_MASK or not compare_exchange(control, BUSY, 0, 1):
        for c in range(count):
            call_task(task, block, c)
        return
    seq = load_acquire(control, SEQ) + 1
    control[TASK] = task
    control[PARAMS] = block
    control[LIMIT] = threads - 1
    store_seq_cst(control, DONE, 0)
    store_seq_cst(control, CLAIM, ((seq & SEQ_MASK) << SEQ_SHIFT) | count)  # lo = 0, hi = count
    store_seq_cst(control, SEQ, seq)  # publishes the job (a full fence before reading SLEEPERS)
    if load_acquire(control, SLEEPERS) > 0:
        _wake(control)
    _claim_and_run(control, seq, True)
    while load_acquire(control, DONE) < count:
        cpu_pause()
    store_seq_cst(control, BUSY, 0)


@jit
def _read_cycles():
    return cycle_counter()


AVAILABLE = sys.platform.startswith("linux") and platform.machine() in ("x86_64", "AMD64")
# One worker per usable CPU but the caller's: numba sizes its pool by the machine's CPU count, which in a
# container limited to a few CPUs (by affinity) would be dozens of spinning workers time-sharing two cores.
WORKERS = max(0, min(numba.config.NUMBA_NUM_THREADS, cpu_count()) - 1)


def threads_for(work: int, serial_below: int, wake_below: int = 0) -> int:
    """Threads a pooled kernel of this much work should use now, 0 where it should not use the workers:
    none here, work below its threshold (unless tests force threads: _jit.threaded_kernels), below
    `wake_below` while every worker sleeps (a worker woken for it would arrive too late to pay for its
    wake-up: it is woken for the products that follow instead, unless it sleeps because another thread
    wants its core), or one thread set (m1.set_num_threads).
    Capped by the workers there are."""
    if not AVAILABLE:
        return 0
    if not PerDtype.always_threaded:
        if work < serial_below:
            return 0
        control = POOL.control
        if work < wake_below and control is not None and control[SLEEPERS] >= WORKERS:
            if control[CONTENDED_UNTIL] < _read_cycles():  # asleep for want of work, not of a core
                _wake(control)  # for the products that follow: this one runs on the caller
            return 0
    threads = min(kernel_threads(), WORKERS + 1)
    return threads if threads > 1 else 0


class _Pool:
    def __init__(self) -> None:
        self.control: np.ndarray | None = None
        self._lock = threading.Lock()

    def start(self) -> np.ndarray:
        """The control block, starting the workers on first use (and again in a forked child)."""
        with self._lock:
            if self.control is None:
                control = np.zeros(CONTROL_SIZE, np.int64)
                control[SYSCALL] = _syscall_address()
                hz = _cycles_per_second()
                for worker in range(WORKERS):
                    threading.Thread(target=serve, args=(control, worker, int(PAUSE_SECONDS * hz),
                                                         int(SPIN_SECONDS * hz), int(CONTENDED_SECONDS * hz)),
                                     daemon=True,
                                     name=f"mark1-worker-{worker}").start()
                self.control = control
        return self.control

    def forget(self) -> None:  # in a forked child: the workers did not come along
        self.control = None
        self._lock = threading.Lock()


def _cycles_per_second() -> float:
    _read_cycles()
    t0, c0 = time.perf_counter(), _read_cycles()
    time.sleep(0.002)
    return (_read_cycles() - c0) / (time.perf_counter() - t0)


POOL = _Pool()
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=POOL.forget)


def control() -> np.ndarray:
    return POOL.control if POOL.control is not None else POOL.start()


@jit_inline
def put_array(params, offset, a):
    """Write a's data pointer, shape and byte strides at params[offset:] (1 + 2 * ndim slots), for a task's
    array_at(params address, offset, type of a) to rebuild it."""
    params[offset] = a.ctypes.data
    for d in range(a.ndim):
        params[offset + 1 + d] = a.shape[d]
        params[offset + 1 + a.ndim + d] = a.strides[d]


def compile_task(func, suffix: str, **constants) -> int:
    """The C address of a task: func(params address, chunk) compiled as a cfunc under func's name + suffix,
    with `constants` as compile-time globals (the array types its array_at calls rebuild, the variant)."""
    options = {k: v for k, v in JIT.items() if k != "nogil"}  # a cfunc holds no GIL anyway
    return numba.cfunc(TASK_SIGNATURE, **options)(renamed(func, suffix, **constants)).address
