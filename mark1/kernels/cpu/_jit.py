"""Shared compile settings for the numba CPU kernels, and the switch that turns LLVM's SLP vectoriser on.

Every kernel is compiled with `cache=True` (a second process loads machine code instead of recompiling) and
`fastmath={'contract'}`: a*b+c may become one FMA instruction, but NaN/inf semantics stay IEEE (no 'nnan',
no 'reassoc'), so NaN still propagates and reductions keep their written order.
"""

from __future__ import annotations

from contextlib import contextmanager

import numba
from numba import njit
from numba.extending import overload

FASTMATH = {"contract"}
JIT = dict(cache=True, fastmath=FASTMATH, error_model="numpy", nogil=True)
# `inline="always"` inlines at numba-IR level, so helpers get the caller's types and fold their branches.
INLINE = dict(JIT, inline="always")
PARALLEL = dict(JIT, parallel=True)

jit = njit(**JIT)
jit_inline = njit(**INLINE)
jit_parallel = njit(**PARALLEL)

# Activation codes: the kernels take an int (not the string) so one compiled kernel serves all four.
IDENTITY, SIGMOID, TANH, RELU = 0, 1, 2, 3
ACTIVATION_CODES = {"identity": IDENTITY, "sigmoid": SIGMOID, "tanh": TANH, "relu": RELU}


@contextmanager
def slp_vectorize():
    """Compile inside this block with LLVM's SLP vectoriser on.

    numba turns SLP off by default (numba#8705, a miscompilation in an unrelated pattern). The GEMM
    micro-kernel keeps its 5x16 accumulators in scalar variables, and only SLP packs those scalars into
    AVX2 registers (3.5x faster measured here). The flag is read when a function is compiled, not when it
    runs, so it only matters on a cache miss; it is restored afterwards so other numba code is unaffected.
    """
    previous = numba.config.SLP_VECTORIZE
    numba.config.SLP_VECTORIZE = 1
    try:
        yield
    finally:
        numba.config.SLP_VECTORIZE = previous


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
    """

    def __init__(self, dispatcher, signature, *, dtype_arg: int = 0, slp: bool = False):
        self.dispatcher = dispatcher
        self.signature = signature
        self.dtype_arg = dtype_arg
        self.slp = slp
        self.compiled: set = set()
        # numba's disable_compile() refuses a dispatcher with no versions yet, hence the attribute.
        dispatcher._can_compile = False

    def __call__(self, *args):
        dtype = args[self.dtype_arg].dtype
        if dtype not in self.compiled:
            self._compile(dtype)
        return self.dispatcher(*args)

    def _compile(self, dtype) -> None:
        sig = self.signature(numba.from_dtype(dtype))
        self.dispatcher._can_compile = True
        try:
            if self.slp:
                with slp_vectorize():
                    self.dispatcher.compile(sig)
            else:
                self.dispatcher.compile(sig)
        finally:
            self.dispatcher._can_compile = False
        self.compiled.add(dtype)


def per_dtype(signature, **options):
    """Decorator: `@per_dtype(lambda t: (t[:, :], t[:, :]), parallel=True)` -> a PerDtype kernel."""

    def wrap(func):
        slp = options.pop("slp", False)
        dtype_arg = options.pop("dtype_arg", 0)
        return PerDtype(njit(**{**JIT, **options})(func), signature, dtype_arg=dtype_arg, slp=slp)

    return wrap
