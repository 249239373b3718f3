"""LLVM operations numba does not expose, as numba intrinsics (compiled inline into the calling kernel)."""

from __future__ import annotations

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic


@intrinsic
def prefetch_for_write(typingctx, array, i, j):
    """Hint the CPU to bring the cache line holding array[i, j] into L1 for writing (prefetchw).

    The GEMM issues this for the rows of an output tile just before the micro-kernel's ~500 cycles of
    arithmetic, so the read-modify-write of the tile afterwards finds it in cache instead of stalling on L3.
    """
    if not isinstance(array, types.Array) or array.ndim != 2:
        return None
    sig = types.void(array, types.intp, types.intp)

    def codegen(context, builder, signature, args):
        array_type = signature.args[0]
        arr = context.make_array(array_type)(context, builder, args[0])
        ptr = cgutils.get_item_pointer(context, builder, array_type, arr, [args[1], args[2]], wraparound=False)
        i32 = ir.IntType(32)
        fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(ir.VoidType(), [ptr.type, i32, i32, i32]),
                                            "llvm.prefetch.p0")
        builder.call(fn, [ptr, i32(1), i32(3), i32(1)])  # write, keep in all cache levels, data cache
        return context.get_dummy_value()

    return sig, codegen


# An LLVM string function attribute, written the way the IR text spells it (llvmlite's AttributeSet only
# accepts keyword attributes, hence set.add below).
_FULL_WIDTH = '"prefer-vector-width"="512"'


@intrinsic
def prefer_full_vector_width(typingctx):
    """Let LLVM vectorise the calling function with the widest registers the CPU has.

    LLVM's tuning for several AVX-512 CPUs (Skylake-X to Rocket Lake and Sapphire Rapids in LLVM's model)
    sets prefer-256-bit, so loops get ymm code even where zmm runs twice the lanes per instruction; the
    per-function attribute "prefer-vector-width"="512" overrides that for this function only, and means
    nothing on a CPU without 512-bit registers (AVX2 code stays AVX2). Call it once anywhere in the function
    whose loops should widen (in a prange body: inside the body, which numba outlines into its own function).
    It emits no instruction.
    """
    sig = types.void()

    def codegen(context, builder, signature, args):
        set.add(builder.function.attributes, _FULL_WIDTH)
        return context.get_dummy_value()

    return sig, codegen
