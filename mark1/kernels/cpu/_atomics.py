"""Atomic int64 operations, the pause instruction, the time-stamp counter, calls through a function address,
and arrays rebuilt from (pointer, shape, strides) slots: the numba intrinsics under workers.py.

numba exposes none of these on the CPU; each is one LLVM instruction or a handful, compiled inline.
"""

from __future__ import annotations

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic
from numba.np.arrayobj import populate_array

I64 = ir.IntType(64)


def _slot(context, builder, array_type, array, index):
    arr = context.make_array(array_type)(context, builder, array)
    return cgutils.get_item_pointer(context, builder, array_type, arr, [index], wraparound=False)


def _int64_slot(array, index) -> bool:
    return isinstance(array, types.Array) and array.dtype == types.int64 and isinstance(index, types.Integer)


@intrinsic
def load_acquire(typingctx, array, index):
    """array[index] read atomically, ordered before every later read (another thread's release store)."""
    if not _int64_slot(array, index):
        return None

    def codegen(context, builder, signature, args):
        return builder.load_atomic(_slot(context, builder, signature.args[0], *args), "acquire", 8)

    return types.int64(array, index), codegen


@intrinsic
def store_seq_cst(typingctx, array, index, value):
    """array[index] = value atomically, a full fence: no later read moves before it (Dekker's handshake)."""
    if not _int64_slot(array, index):
        return None

    def codegen(context, builder, signature, args):
        builder.atomic_rmw("xchg", _slot(context, builder, signature.args[0], args[0], args[1]),
                           context.cast(builder, args[2], signature.args[2], types.int64), "seq_cst")
        return context.get_dummy_value()

    return types.void(array, index, types.int64), codegen


@intrinsic
def fetch_add(typingctx, array, index, value):
    """array[index] += value atomically; returns the value before."""
    if not _int64_slot(array, index):
        return None

    def codegen(context, builder, signature, args):
        return builder.atomic_rmw("add", _slot(context, builder, signature.args[0], args[0], args[1]),
                                  context.cast(builder, args[2], signature.args[2], types.int64), "seq_cst")

    return types.int64(array, index, types.int64), codegen


@intrinsic
def compare_exchange(typingctx, array, index, expected, new):
    """If array[index] == expected, set it to new (atomically); True when it did."""
    if not _int64_slot(array, index):
        return None

    def codegen(context, builder, signature, args):
        pair = builder.cmpxchg(_slot(context, builder, signature.args[0], args[0], args[1]),
                               context.cast(builder, args[2], signature.args[2], types.int64),
                               context.cast(builder, args[3], signature.args[3], types.int64), "seq_cst", "seq_cst")
        return builder.extract_value(pair, 1)

    return types.boolean(array, index, expected, new), codegen


@intrinsic
def cpu_pause(typingctx):
    """The spin-wait hint (x86 `pause`): a spinning core yields its pipeline and saves power."""
    def codegen(context, builder, signature, args):
        fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(ir.VoidType(), []),
                                            "llvm.x86.sse2.pause")
        builder.call(fn, [])
        return context.get_dummy_value()

    return types.void(), codegen


@intrinsic
def cycle_counter(typingctx):
    """The time-stamp counter (rdtsc): constant-rate on every x86-64 CPU with constant_tsc."""
    def codegen(context, builder, signature, args):
        fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(I64, []), "llvm.readcyclecounter")
        return builder.call(fn, [])

    return types.int64(), codegen


@intrinsic
def call_task(typingctx, address, params, chunk):
    """Call the C function `void task(int64 params, int64 chunk)` at `address` (a numba cfunc's)."""
    def codegen(context, builder, signature, args):
        fnty = ir.FunctionType(ir.VoidType(), [I64, I64])
        builder.call(builder.inttoptr(args[0], fnty.as_pointer()), [args[1], args[2]])
        return context.get_dummy_value()

    return types.void(types.int64, types.int64, types.int64), codegen


@intrinsic
def call_syscall(typingctx, address, number, a1, a2, a3):
    """libc's `long syscall(long number, ...)` at `address`, with three integer arguments (then zeros).

    Called through its address (passed in at run time) rather than as a ctypes function, because a ctypes
    global makes numba refuse to cache the caller."""
    def codegen(context, builder, signature, args):
        fnty = ir.FunctionType(I64, [I64] * 7)
        fn = builder.inttoptr(args[0], fnty.as_pointer())
        zero = ir.Constant(I64, 0)
        ints = [context.cast(builder, v, t, types.int64) for v, t in zip(args[1:], signature.args[1:], strict=True)]
        return builder.call(fn, [*ints, zero, zero, zero])

    return types.int64(types.int64, number, a1, a2, a3), codegen


def _int64_slots(context, builder, address):
    return builder.inttoptr(address, I64.as_pointer())


@intrinsic
def slot_at(typingctx, address, index):
    """The int64 at address[index] (a parameter block's slot), address an int64 holding a pointer."""
    def codegen(context, builder, signature, args):
        return builder.load(builder.gep(_int64_slots(context, builder, args[0]), [args[1]]))

    return types.int64(types.int64, types.intp), codegen


@intrinsic
def array_at(typingctx, address, offset, array_type):
    """The array whose data pointer, shape and byte strides put_array wrote at address[offset:].

    array_type is a numba array type (a TypeRef): the rebuilt array has its dtype, ndim and layout and owns
    nothing (no meminfo), so the caller keeps the original alive while it is used.
    """
    arr_t = array_type.instance_type
    sig = arr_t(types.int64, types.intp, array_type)

    def codegen(context, builder, signature, args):
        base = _int64_slots(context, builder, args[0])
        start = args[1]

        def slot(k):
            return builder.load(builder.gep(base, [builder.add(start, ir.Constant(start.type, k))]))

        out = context.make_array(arr_t)(context, builder)
        data = builder.inttoptr(slot(0), context.get_data_type(arr_t.dtype).as_pointer())
        shape = [slot(1 + d) for d in range(arr_t.ndim)]
        strides = [slot(1 + arr_t.ndim + d) for d in range(arr_t.ndim)]
        itemsize = context.get_constant(types.intp, context.get_abi_sizeof(context.get_data_type(arr_t.dtype)))
        populate_array(out, data=data, shape=shape, strides=strides, itemsize=itemsize, meminfo=None)
        return out._getvalue()

    return sig, codegen


@intrinsic
def keep_alive(typingctx, array):
    """Emits nothing; a use of `array` here keeps numba from freeing it earlier.

    numba frees a local array right after its last use in the source, and a parameter block or a packed
    buffer is last used where its address is taken, before the job that reads it runs: call this after.
    """
    if not isinstance(array, types.Array):
        return None

    def codegen(context, builder, signature, args):
        return context.get_dummy_value()

    return types.void(array), codegen
