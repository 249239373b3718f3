"""LLVM operations numba does not expose, as numba intrinsics (compiled inline into the calling kernel)."""

from __future__ import annotations

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.core.imputils import impl_ret_borrowed
from numba.extending import intrinsic
from numba.np.arrayobj import populate_array


def _prefetch(write: int, locality: int):
    """An intrinsic prefetch(array, i, j) of the cache line holding array[i, j] (llvm.prefetch: write 0/1,
    locality 3 = every cache level (prefetcht0 / prefetchw), 2 = L2 and beyond (prefetcht1))."""

    def prefetch(typingctx, array, i, j):
        if not isinstance(array, types.Array) or array.ndim != 2:
            return None
        sig = types.void(array, types.intp, types.intp)

        def codegen(context, builder, signature, args):
            array_type = signature.args[0]
            arr = context.make_array(array_type)(context, builder, args[0])
            ptr = cgutils.get_item_pointer(context, builder, array_type, arr, [args[1], args[2]], wraparound=False)
            i32 = ir.IntType(32)
            fn = cgutils.get_or_insert_function(builder.module,
                                                ir.FunctionType(ir.VoidType(), [ptr.type, i32, i32, i32]),
                                                "llvm.prefetch.p0")
            ptr = builder.bitcast(ptr, fn.function_type.args[0])  # declared earlier with another pointer type
            builder.call(fn, [ptr, i32(write), i32(locality), i32(1)])  # the last 1: data cache
            return context.get_dummy_value()

        return sig, codegen

    return prefetch


# The GEMM issues this for the rows of an output tile just before the micro-kernel's ~500 cycles of
# arithmetic, so the read-modify-write of the tile afterwards finds it in cache instead of stalling on L3.
prefetch_for_write = intrinsic(_prefetch(1, 3))
prefetch_for_write.__doc__ = "Hint the CPU to bring the line holding array[i, j] into L1 for writing (prefetchw)."

# The GEMM issues this, during one K block's arithmetic, for the source rows it packs next, so the packing
# reads them from L2 instead of waiting on memory.
prefetch_to_l2 = intrinsic(_prefetch(0, 2))
prefetch_to_l2.__doc__ = "Hint the CPU to bring the line holding array[i, j] into L2 for reading (prefetcht1)."


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


@intrinsic
def copy_run(typingctx, dst, src, count):
    """dst[:count] = src[:count] for 1-D views with unit stride (the caller guarantees it), count a
    compile-time constant (a module-level int): one vector load and one store of count elements, which LLVM
    splits into the machine's registers (12 float32: a ymm and an xmm move). numba would emit count scalar
    copies here: its SLP vectoriser, which would merge them, is off by default.
    """
    if not (isinstance(count, types.IntegerLiteral) and isinstance(dst, types.Array) and isinstance(src, types.Array)
            and dst.ndim == 1 and src.ndim == 1 and dst.dtype == src.dtype and dst.mutable):
        return None
    n = count.literal_value
    sig = types.void(dst, src, count)

    def codegen(context, builder, signature, args):
        d = context.make_array(signature.args[0])(context, builder, args[0])
        s = context.make_array(signature.args[1])(context, builder, args[1])
        elem = context.get_data_type(signature.args[0].dtype)
        align = context.get_abi_sizeof(elem)
        vec = ir.VectorType(elem, n)
        value = builder.load(builder.bitcast(s.data, vec.as_pointer()), align=align)
        builder.store(value, builder.bitcast(d.data, vec.as_pointer()), align=align)
        return context.get_dummy_value()

    return sig, codegen


def _padded_lanes(dtype) -> int:
    """The vector length of copy_run_padded for a numba float type: the widest run the packers copy (a full
    B panel row, NR; or an A panel row, MR), so one instantiation per dtype serves every call."""
    from mark1.kernels.cpu.params import PARAMS

    nr = PARAMS.nr_f32 if dtype == types.float32 else PARAMS.nr_f64
    return max(nr, PARAMS.mr)


@intrinsic
def copy_run_padded(typingctx, dst, src, width, count):
    """dst[:count] = src[:width] followed by zeros, for 1-D views with unit stride and width <= count <= the
    packers' widest run (_padded_lanes): one masked vector load (lanes past width read nothing, so a run
    ending at the last element of an array is safe, and come back as zeros) and one masked store of count
    lanes. A B panel row cut by the matrix's last column (every row of a 10-wide B) went through width +
    (count - width) scalar stores: 256 rows of 10 into 16-wide panels took 2.6 us, numpy's whole product 1.4."""
    if not (isinstance(dst, types.Array) and isinstance(src, types.Array) and dst.ndim == 1 and src.ndim == 1
            and dst.dtype == src.dtype and dst.dtype in (types.float32, types.float64) and dst.mutable
            and isinstance(width, types.Integer) and isinstance(count, types.Integer)):
        return None
    n = _padded_lanes(dst.dtype)
    sig = types.void(dst, src, width, count)

    def codegen(context, builder, signature, args):
        d = context.make_array(signature.args[0])(context, builder, args[0])
        s = context.make_array(signature.args[1])(context, builder, args[1])
        elem = context.get_data_type(signature.args[0].dtype)
        align = context.get_abi_sizeof(elem)
        i32 = ir.IntType(32)
        vec = ir.VectorType(elem, n)
        lanes_t = ir.VectorType(i32, n)
        mask_t = ir.VectorType(ir.IntType(1), n)

        def lanes_below(value, value_type):
            limit = builder.trunc(context.cast(builder, value, value_type, types.intp), i32)
            splat = builder.shuffle_vector(builder.insert_element(ir.Constant(lanes_t, ir.Undefined), limit, i32(0)),
                                           ir.Constant(lanes_t, ir.Undefined), ir.Constant(lanes_t, [0] * n))
            return builder.icmp_signed("<", ir.Constant(lanes_t, list(range(n))), splat)

        suffix = f"v{n}f{align * 8}.p0"
        load = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(vec, [vec.as_pointer(), i32, mask_t, vec]), f"llvm.masked.load.{suffix}")
        store = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(ir.VoidType(), [vec, vec.as_pointer(), i32, mask_t]),
            f"llvm.masked.store.{suffix}")
        value = builder.call(load, [builder.bitcast(s.data, vec.as_pointer()), i32(align),
                                    lanes_below(args[2], signature.args[2]), ir.Constant(vec, None)])
        builder.call(store, [value, builder.bitcast(d.data, vec.as_pointer()), i32(align),
                             lanes_below(args[3], signature.args[3])])
        return context.get_dummy_value()

    return sig, codegen


@intrinsic
def unit_stride(typingctx, x):
    """x, a 1-D view the caller knows has unit stride, typed as C-contiguous (borrowed: no meminfo, so the
    caller keeps the array it came from alive). Loops over 'A'-layout views carry the stride as a variable,
    and LLVM vectorised the packing loops over several of them only for some branch shapes (3x slower)."""
    if not isinstance(x, types.Array) or x.ndim != 1:
        return None
    out_t = x.copy(layout="C", readonly=not x.mutable)
    sig = out_t(x)

    def codegen(context, builder, signature, args):
        src = context.make_array(signature.args[0])(context, builder, args[0])
        out = context.make_array(signature.return_type)(context, builder)
        populate_array(out, data=src.data, shape=src.shape, strides=src.strides, itemsize=src.itemsize,
                       meminfo=None)
        return out._getvalue()

    return sig, codegen


ALIGN_PAD = 16  # elements a buffer needs beyond its content for aligned_view to start it on a 64-byte line


@intrinsic
def aligned_view(typingctx, buffer, shape):
    """A C-contiguous array of `shape` inside 1-D `buffer`, starting at buffer's first 64-byte boundary; buffer
    holds at least prod(shape) + ALIGN_PAD elements. The view shares (and holds) buffer's memory, so buffer
    may be a temporary.

    Why: numba's np.empty returns memory 32 bytes past a cache line, so every 64-byte row of a packed B
    panel that the micro-kernel loads as one zmm register straddled two lines (a split load, two L1
    accesses) on every step of its loop."""
    if not (isinstance(buffer, types.Array) and buffer.ndim == 1 and buffer.layout == "C"
            and isinstance(shape, types.UniTuple) and isinstance(shape.dtype, types.Integer)):
        return None
    out_t = buffer.copy(ndim=len(shape), layout="C")
    sig = out_t(buffer, shape)

    def codegen(context, builder, signature, args):
        src = context.make_array(signature.args[0])(context, builder, args[0])
        out = context.make_array(signature.return_type)(context, builder)
        intp = context.get_value_type(types.intp)
        dims = [context.cast(builder, d, signature.args[1].dtype, types.intp)
                for d in cgutils.unpack_tuple(builder, args[1], len(signature.args[1]))]
        strides, step = [], src.itemsize
        for d in reversed(dims):
            strides.insert(0, step)
            step = builder.mul(step, d)
        start = builder.and_(builder.add(builder.ptrtoint(src.data, intp), intp(63)), intp(-64))
        populate_array(out, data=builder.inttoptr(start, src.data.type), shape=cgutils.pack_array(builder, dims, intp),
                       strides=cgutils.pack_array(builder, strides, intp), itemsize=src.itemsize,
                       meminfo=src.meminfo)
        return impl_ret_borrowed(context, builder, signature.return_type, out._getvalue())

    return sig, codegen


@intrinsic
def gather_run(typingctx, dst, src, k, c0, count):
    """dst[:count] = src[k, c0:c0 + count] for a 2-D src of any strides, count a compile-time constant (a
    module-level int): one vector gather (llvm.masked.gather; vgather on AVX2 and AVX-512) and one store, where
    numba emits count scalar loads a row stride apart. The caller guarantees the run lies inside src and dst
    has unit stride. Packing a transposed B (W.T of every dx = delta W.T) panel by panel: 784x128 45 -> 20 us,
    1024x1024 765 -> 387 us on one thread."""
    if not (isinstance(count, types.IntegerLiteral) and isinstance(src, types.Array) and src.ndim == 2
            and isinstance(dst, types.Array) and dst.ndim == 1 and dst.dtype == src.dtype and dst.mutable):
        return None
    n = count.literal_value
    sig = types.void(dst, src, k, c0, count)

    def codegen(context, builder, signature, args):
        d = context.make_array(signature.args[0])(context, builder, args[0])
        s = context.make_array(signature.args[1])(context, builder, args[1])
        row = context.cast(builder, args[2], signature.args[2], types.intp)
        col = context.cast(builder, args[3], signature.args[3], types.intp)
        elem = context.get_data_type(signature.args[1].dtype)
        size = context.get_abi_sizeof(elem)
        i64, i32 = ir.IntType(64), ir.IntType(32)
        stride0, stride1 = cgutils.unpack_tuple(builder, s.strides, 2)
        first = builder.add(builder.ptrtoint(s.data, i64), builder.add(builder.mul(row, stride0),
                                                                     builder.mul(col, stride1)))
        lanes = ir.VectorType(i64, n)
        splat = ir.Constant(ir.VectorType(i32, n), [0] * n)

        def broadcast(value):
            one = builder.insert_element(ir.Constant(lanes, ir.Undefined), value, i32(0))
            return builder.shuffle_vector(one, ir.Constant(lanes, ir.Undefined), splat)

        addresses = builder.add(broadcast(first), builder.mul(broadcast(stride1), ir.Constant(lanes, list(range(n)))))
        pointers_t = ir.VectorType(elem.as_pointer(), n)
        values_t = ir.VectorType(elem, n)
        mask_t = ir.VectorType(ir.IntType(1), n)
        gather = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(values_t, [pointers_t, i32, mask_t, values_t]),
            f"llvm.masked.gather.v{n}f{size * 8}.v{n}p0")
        values = builder.call(gather, [builder.inttoptr(addresses, pointers_t), i32(size),
                                       ir.Constant(mask_t, [1] * n), ir.Constant(values_t, ir.Undefined)])
        builder.store(values, builder.bitcast(d.data, values_t.as_pointer()), align=size)
        return context.get_dummy_value()

    return sig, codegen
