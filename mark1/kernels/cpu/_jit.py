"""Shared compile settings for the numba CPU kernels, and the switch that turns LLVM's SLP vectoriser on.

Every kernel is compiled with `cache=True` (a second process loads machine code instead of recompiling) and
`fastmath={'contract'}`: a*b+c may become one FMA instruction, but NaN/inf semantics stay IEEE (no 'nnan',
no 'reassoc'), so NaN still propagates and reductions keep their written order.

The cache lives in the user's cache directory (mark1/cache.py), in a folder keyed by the mark1 version and
a hash of every kernel source, so editing a helper module (expmath.py, ...) recompiles what inlines it: the
locator is installed below, before any kernel here is decorated.
"""

from __future__ import annotations

import os
import threading
import time
import types
from contextlib import contextmanager
from dataclasses import dataclass

import numba
from numba import njit
from numba.extending import overload

from mark1.cache import install_numba_locator
from mark1.kernels.cpu import _lazy_codegen
from mark1.kernels.cpu.params import PARAMS

install_numba_locator()   # before the first @njit(cache=True) below and in every kernel module

FASTMATH = {"contract"}
JIT = dict(cache=True, fastmath=FASTMATH, error_model="numpy", nogil=True)
# `inline="always"` inlines at numba-IR level, so helpers get the caller's types and fold their branches.
INLINE = dict(JIT, inline="always")

jit = njit(**JIT)
jit_inline = njit(**INLINE)
_jit_helper = njit(**JIT, no_cpython_wrapper=True, no_cfunc_wrapper=True)
_lazy_codegen.install()


def jit_internal(func):
    """A helper only numba code calls: no CPython wrapper (the argument unboxing numba would otherwise compile
    for each: a few tens of ms of a first fit's compiling apiece) and no machine code of its own, only the
    copies linked into its callers (_lazy_codegen: ~1 s of a first fit)."""
    _lazy_codegen.register(func.__qualname__)
    return _jit_helper(func)

# Activation codes: the kernels take an int (not the string) so one compiled kernel serves all four.
IDENTITY, SIGMOID, TANH, RELU = 0, 1, 2, 3
ACTIVATION_CODES = {"identity": IDENTITY, "sigmoid": SIGMOID, "tanh": TANH, "relu": RELU}


@contextmanager
def slp_vectorize():
    """Compile inside this block with LLVM's SLP vectoriser on.

    numba turns SLP off by default (numba#8705, a miscompilation in an unrelated pattern). The GEMM
    micro-kernel keeps its 5x16 accumulators in scalar variables, and only SLP packs those scalars into
    AVX2 registers (3.5x faster measured here). The flag is read when a function is compiled, not when it
    runs, so it only matters on a cache miss; it is restored afterwards so other numba code is unaffected
    (except code that another thread compiles at the same moment: the flag is process-wide).
    """
    previous = numba.config.SLP_VECTORIZE
    numba.config.SLP_VECTORIZE = 1
    try:
        yield
    finally:
        numba.config.SLP_VECTORIZE = previous


@jit_inline
def cdiv(a, b):
    """ceil(a / b) for non-negative ints, inlined (as a call it was one more compile unit per caller)."""
    return (a + b - 1) // b


def typed(like, value):
    """`value` converted to the scalar type of `like` (inside kernels only).

    numba types `float32 - 1` as float64 (a Python int promotes a float32), which would silently turn a
    float32 loop into a float64 one; `1 - typed(x, 1)`-style constants keep each kernel in its input's type.
    """
    raise TypeError("typed() is only usable inside numba kernels")


@overload(typed, inline="always")
def _typed_impl(like, value):
    scalar_type = like

    def impl(like, value):
        return scalar_type(value)

    return impl


class PerDtype:
    """A kernel compiled once per dtype with 'A' (any-stride) array types, whatever layouts it is called with.

    A plain numba dispatcher compiles a new machine-code version for every combination of C/F/A layouts it
    meets; for the GEMM (six array arguments) that meant minutes of JIT in the tests. Here the first call
    with a new dtype compiles (or loads from the cache) exactly `signature(numba_scalar_type)`, and numba
    then converts C/F arrays to that signature instead of compiling again.

    A parallel kernel also gets a single-threaded twin (same source, parallel=False), used when
    `work(*args)` is below `serial_below`: waking the thread pool costs microseconds on a quiet machine
    and whole scheduler time slices on a busy one, more than a small array takes on one core.
    """

    def __init__(self, func, signature, options: dict, *, dtype_arg: int = 0, slp: bool = False,
                 work=None, serial_below: int = 0):
        self.signature = signature
        self.dtype_arg = dtype_arg
        self.slp = slp
        self.work = work or (lambda *args: args[dtype_arg].size)
        self.serial_below = serial_below if options.get("parallel") else 0
        self.dispatcher = njit(**{**JIT, **options})(func)
        self.serial = njit(**{**JIT, **options, "parallel": False})(renamed(func, "_serial"))
        self.compiled: set = set()
        self._lock = threading.Lock()  # two threads' first calls must not race on _can_compile
        for d in (self.dispatcher, self.serial):
            # numba's disable_compile() refuses a dispatcher with no versions yet, hence the attribute.
            d._can_compile = False

    # Tests set this (through threaded_kernels()) to run every parallel variant whatever the size.
    always_threaded = os.environ.get("MARK1_THREADED_KERNELS") == "1"

    def __call__(self, *args):
        # serial_below is 0 for a kernel without threads: no work() call then (a Python call per kernel call)
        serial = self.serial_below and not PerDtype.always_threaded and self.work(*args) < self.serial_below
        dispatcher = self.serial if serial else self.dispatcher
        try:  # the hot path: a compiled version exists (no key to build and hash: ~0.1 us a call)
            return dispatcher(*args)
        except TypeError:  # numba's "no matching definition": this dtype/variant is not compiled yet
            pass
        return self._first_call(dispatcher, bool(serial), args)

    def run(self, serial: bool, *args):
        """The single-threaded twin (serial) or the parallel version, for a caller that has already
        measured the work (the GEMM wrapper does, to plan its tasks): no work() call of its own."""
        dispatcher = self.serial if serial else self.dispatcher
        try:
            return dispatcher(*args)
        except TypeError:
            pass
        return self._first_call(dispatcher, serial, args)

    def _first_call(self, dispatcher, serial: bool, args):
        key = (args[self.dtype_arg].dtype, serial)
        if key in self.compiled:  # compiled, so the arguments themselves do not fit: numba's own error
            return dispatcher(*args)
        with self._lock:
            if key not in self.compiled:
                self._compile(dispatcher, key[0])
                self.compiled.add(key)
        return dispatcher(*args)

    def _compile(self, dispatcher, dtype) -> None:
        sig = self.signature(numba.from_dtype(dtype))
        hits = sum(dispatcher.stats.cache_hits.values())
        start = time.perf_counter()
        dispatcher._can_compile = True
        try:
            if self.slp:
                with slp_vectorize():
                    dispatcher.compile(sig)
            else:
                dispatcher.compile(sig)
        finally:
            dispatcher._can_compile = False
        COMPILE_LOG.append(CompileEvent(dispatcher.py_func.__qualname__, str(dtype), time.perf_counter() - start,
                                        sum(dispatcher.stats.cache_hits.values()) > hits))


@dataclass(frozen=True)
class CompileEvent:
    """One kernel version made ready: compiled, or loaded from numba's on-disk cache (from_cache)."""

    kernel: str       # qualname; the single-threaded twin ends in '_serial'
    dtype: str
    seconds: float
    from_cache: bool


# Every PerDtype compile in this process, in order: `mark1 bench` reports the compile time per kernel from
# it, apart from the first call's time (which also holds packing, allocation and the call itself).
COMPILE_LOG: list[CompileEvent] = []


def renamed(func, suffix: str, **constants):
    """A copy of func under another qualname: numba's on-disk cache is keyed by qualname, not by flags,
    so the serial twin needs its own name or it would overwrite the parallel version's cache entry.

    `constants` are added to the copy's globals, which numba treats as compile-time constants: branches on
    them are pruned before typing, so each variant compiles only its own code (gemm.py's variants)."""
    scope = {**func.__globals__, **constants} if constants else func.__globals__
    twin = types.FunctionType(func.__code__, scope, func.__name__ + suffix, func.__defaults__, func.__closure__)
    twin.__qualname__ = func.__qualname__ + suffix
    twin.__module__ = func.__module__
    twin.__doc__ = func.__doc__
    return twin


@contextmanager
def threaded_kernels(on: bool = True):
    """Inside this block every parallel kernel runs its multi-threaded variant, whatever the size.

    The one switch for tests: the serial thresholds (thousands of elements) keep test-sized inputs on the
    single-threaded twins, so without it the threaded softmax, loss, optimizer and backward kernels would
    never run under test. MARK1_THREADED_KERNELS=1 in the environment turns it on for a whole process.
    Results must not depend on it beyond float rounding of reductions (tests compare both variants).
    """
    previous = PerDtype.always_threaded
    PerDtype.always_threaded = on
    try:
        yield
    finally:
        PerDtype.always_threaded = previous


# elements below which an elementwise/row/update kernel runs on one thread (the per-ISA table's value)
SERIAL_BELOW = PARAMS.elementwise_serial_below


def readonly(dtype, ndim: int, layout: str = "A"):
    """The numba type of a read-only array argument: accepts writable and read-only arrays alike (an input
    such as np.asarray(PIL image) is read-only, and a writable-array signature would refuse it)."""
    return numba.types.Array(dtype, ndim, layout, readonly=True)


def per_dtype(signature, **options):
    """Decorator: `@per_dtype(lambda t: (t[:, :], t[:, :]), parallel=True)` -> a PerDtype kernel.

    Extra options: dtype_arg (which argument's dtype picks the version), slp, work and serial_below
    (default SERIAL_BELOW elements of the dtype_arg array).
    """

    def wrap(func):
        extra = {k: options.pop(k) for k in ("slp", "dtype_arg", "work", "serial_below") if k in options}
        extra.setdefault("serial_below", SERIAL_BELOW)
        return PerDtype(func, signature, dict(options), **extra)

    return wrap
