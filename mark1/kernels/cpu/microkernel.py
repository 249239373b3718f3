"""The GEMM register tile, generated as LLVM vector IR for the path params.py chose (nothing generated is stored).

`register_tile(kc, a, b, out, i0, j0, accumulate)` is a numba intrinsic: at compile time it emits, for the
dtype at hand, a loop over p < kc that loads one row of the packed B panel as NR/lanes vectors, broadcasts
each of the MR elements of the packed A row and issues MR x NR/lanes `llvm.fmuladd` (FMA) calls on vector accumulators
(<16 x float> on the avx512 path, <8 x float> on avx2); then the tile is added or stored into
out[i0:i0+MR, j0:j0+NR]. Writing the vectors ourselves instead of MR x NR scalars left to LLVM's SLP
vectoriser compiles in milliseconds, cannot silently fall back to narrower registers (LLVM's prefer-256-bit
tuning did that on Intel servers) and is exactly the BLIS micro-kernel: MR broadcasts, NR/lanes loads and
MR x NR/lanes FMAs per step.

Requirements: a (>= kc, >= MR) and b (>= kc, >= NR) have unit stride along their last axis (packed panels do);
out has unit stride along its last axis and room for the whole tile at (i0, j0). Any row strides.
"""

from __future__ import annotations

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic, overload

from mark1.kernels.cpu.params import PARAMS

I32 = ir.IntType(32)


def tile_shape(dtype) -> tuple[int, int, int]:
    """(MR, NR, lanes) of the register tile for a numba float type on this process's path."""
    itemsize = 4 if dtype == types.float32 else 8
    nr = PARAMS.nr_f32 if itemsize == 4 else PARAMS.nr_f64
    return PARAMS.mr, nr, PARAMS.vector_bytes // itemsize


def _row_pointer(builder, arr, row, itemsize: int, col):
    """Address of arr[row, col] as a byte offset from the data pointer (row stride in bytes, unit column stride)."""
    stride0 = cgutils.unpack_tuple(builder, arr.strides, 2)[0]
    base = builder.bitcast(arr.data, ir.IntType(8).as_pointer())
    offset = builder.add(builder.mul(row, stride0), builder.mul(col, stride0.type(itemsize)))
    return builder.gep(base, [offset])


def _opaque(builder, pointer):
    """pointer, through an empty inline-asm statement: LLVM can no longer relate it to other values.

    Used on the MR row pointers of an in-place A: from base + i * stride it derived each row's address from
    the previous one (11 dependent adds per step of p, a latency chain that halved the FMA rate of the
    in-place narrow tile); unrelated pointers are advanced independently."""
    return builder.asm(ir.FunctionType(pointer.type, [pointer.type]), "", "=r,0", [pointer], False)


def _tile_codegen(mr: int, nr: int, lanes: int, scalar: ir.Type, itemsize: int, strided_a: bool = False,
                  masked: bool = False, row_table: bool = False, b_table: bool = False, out_table: bool = False):
    vec = ir.VectorType(scalar, lanes)
    nvec = nr // lanes
    splat_mask = ir.Constant(ir.VectorType(I32, lanes), [0] * lanes)
    # fmuladd: one FMA where the target has it, a multiply and an add where it has not (the generic path)
    fma_name = f"llvm.fmuladd.v{lanes}f{itemsize * 8}"

    def codegen(context, builder, signature, args):
        kc_t, a_t, b_t, out_t, i0_t, j0_t, acc_t = signature.args[:7]
        intp = context.get_value_type(types.intp)
        kc = context.cast(builder, args[0], kc_t, types.intp)
        a = context.make_array(a_t)(context, builder, args[1])
        b = context.make_array(b_t)(context, builder, args[2])
        out = context.make_array(out_t)(context, builder, args[3])
        i0 = context.cast(builder, args[4], i0_t, types.intp)
        j0 = context.cast(builder, args[5], j0_t, types.intp)
        accumulate = context.cast(builder, args[6], acc_t, types.boolean)
        fma = cgutils.get_or_insert_function(builder.module, ir.FunctionType(vec, [vec, vec, vec]), fma_name)

        accs = []
        for _ in range(mr * nvec):
            slot = cgutils.alloca_once(builder, vec)
            builder.store(ir.Constant(vec, None), slot)
            accs.append(slot)
        if strided_a:  # a[p, i] = base + p * stride0 + i * stride1: one row pointer per i, set up once
            a_strides = cgutils.unpack_tuple(builder, a.strides, 2)
            a_step = a_strides[0]
            a_base = builder.bitcast(a.data, ir.IntType(8).as_pointer())
            a_rows = [_opaque(builder, builder.gep(a_base, [builder.mul(intp(i), a_strides[1])])) for i in range(mr)]
        elif row_table:  # a is 1-D, a[p, i] = a[starts[i] + p]: MR rows anywhere in one contiguous array
            starts_t = signature.args[7]
            starts = context.make_array(starts_t)(context, builder, args[7])
            a_step = intp(itemsize)
            a_base = builder.bitcast(a.data, ir.IntType(8).as_pointer())
            start_ptr = builder.bitcast(starts.data, intp.as_pointer())
            a_rows = [_opaque(builder, builder.gep(a_base, [builder.mul(builder.load(builder.gep(start_ptr, [intp(i)])),
                                                                         intp(itemsize))]))
                      for i in range(mr)]
        if b_table:  # b is 1-D, b[p, j] = b[starts[p] + shift + j]: kc rows anywhere in one contiguous array
            b_starts = context.make_array(signature.args[7])(context, builder, args[7])
            b_shift = context.cast(builder, args[8], signature.args[8], types.intp)
            b_base = builder.bitcast(b.data, ir.IntType(8).as_pointer())
            b_start_ptr = builder.bitcast(b_starts.data, intp.as_pointer())
        with cgutils.for_range(builder, kc, intp=intp) as loop:
            p = loop.index
            if b_table:
                first = builder.mul(builder.add(builder.load(builder.gep(b_start_ptr, [p])), b_shift), intp(itemsize))
                row = [builder.gep(b_base, [builder.add(first, intp(v * lanes * itemsize))]) for v in range(nvec)]
                bvecs = [builder.load(builder.bitcast(r, vec.as_pointer()), align=itemsize) for r in row]
            else:
                bvecs = [builder.load(builder.bitcast(_row_pointer(builder, b, p, itemsize, intp(v * lanes)),
                                                      vec.as_pointer()), align=itemsize) for v in range(nvec)]
            for i in range(mr):
                if strided_a or row_table:
                    aptr = builder.bitcast(builder.gep(a_rows[i], [builder.mul(p, a_step)]), scalar.as_pointer())
                else:
                    aptr = builder.bitcast(_row_pointer(builder, a, p, itemsize, intp(i)), scalar.as_pointer())
                one = builder.insert_element(ir.Constant(vec, ir.Undefined), builder.load(aptr), I32(0))
                splat = builder.shuffle_vector(one, ir.Constant(vec, ir.Undefined), splat_mask)
                for v in range(nvec):
                    slot = accs[i * nvec + v]
                    builder.store(builder.call(fma, [splat, bvecs[v], builder.load(slot)]), slot)

        if masked:  # only out[i0:i0+rows, j0:j0+cols]: rows by branches, columns by lane masks
            rows = context.cast(builder, args[7], signature.args[7], types.intp)
            cols = builder.trunc(context.cast(builder, args[8], signature.args[8], types.intp), I32)
            mask_t = ir.VectorType(ir.IntType(1), lanes)
            cols_vec = builder.shuffle_vector(builder.insert_element(ir.Constant(ir.VectorType(I32, lanes),
                                                                                 ir.Undefined), cols, I32(0)),
                                              ir.Constant(ir.VectorType(I32, lanes), ir.Undefined), splat_mask)
            masks = [builder.icmp_signed("<", ir.Constant(ir.VectorType(I32, lanes),
                                                          list(range(v * lanes, (v + 1) * lanes))), cols_vec)
                     for v in range(nvec)]
            suffix = f"v{lanes}f{itemsize * 8}.p0"
            mload = cgutils.get_or_insert_function(builder.module, ir.FunctionType(
                vec, [vec.as_pointer(), I32, mask_t, vec]), f"llvm.masked.load.{suffix}")
            mstore = cgutils.get_or_insert_function(
                builder.module, ir.FunctionType(ir.VoidType(), [vec, vec.as_pointer(), I32, mask_t]),
                f"llvm.masked.store.{suffix}")

        if out_table:  # out is 1-D: tile row i goes to out[starts[i] + j0 + j]
            out_starts = context.make_array(signature.args[7])(context, builder, args[7])
            out_start_ptr = builder.bitcast(out_starts.data, intp.as_pointer())
            out_base = builder.bitcast(out.data, ir.IntType(8).as_pointer())
            starts_i = [builder.load(builder.gep(out_start_ptr, [intp(i)])) for i in range(mr)]
            out_rows = [builder.gep(out_base, [builder.mul(builder.add(start, j0), intp(itemsize))])
                        for start in starts_i]

        def store(add: bool) -> None:
            for i in range(mr):
                row = builder.add(i0, intp(i))
                if out_table:
                    for v in range(nvec):
                        ptr = builder.bitcast(builder.gep(out_rows[i], [intp(v * lanes * itemsize)]), vec.as_pointer())
                        value = builder.load(accs[i * nvec + v])
                        if add:
                            value = builder.fadd(builder.load(ptr, align=itemsize), value)
                        builder.store(value, ptr, align=itemsize)
                    continue
                if masked:
                    with builder.if_then(builder.icmp_signed("<", intp(i), rows)):
                        for v in range(nvec):
                            col = builder.add(j0, intp(v * lanes))
                            ptr = builder.bitcast(_row_pointer(builder, out, row, itemsize, col), vec.as_pointer())
                            value = builder.load(accs[i * nvec + v])
                            if add:
                                old = builder.call(mload, [ptr, I32(itemsize), masks[v], ir.Constant(vec, None)])
                                value = builder.fadd(old, value)
                            builder.call(mstore, [value, ptr, I32(itemsize), masks[v]])
                    continue
                for v in range(nvec):
                    col = builder.add(j0, intp(v * lanes))
                    ptr = builder.bitcast(_row_pointer(builder, out, row, itemsize, col), vec.as_pointer())
                    value = builder.load(accs[i * nvec + v])
                    if add:
                        value = builder.fadd(builder.load(ptr, align=itemsize), value)
                    builder.store(value, ptr, align=itemsize)

        with builder.if_else(accumulate) as (then, otherwise):
            with then:
                store(True)
            with otherwise:
                store(False)
        return context.get_dummy_value()

    return codegen


def _tile_intrinsic(width_vectors: int | None, name: str, strided_a: bool = False, masked: bool = False,
                    rows: int | None = None, row_table: bool = False, b_table: bool = False, out_table: bool = False):
    """A register_tile intrinsic: NR columns wide (width_vectors None) or that many vectors wide, MR rows
    (or `rows`); masked ones take (rows, cols) after `accumulate` and write only that corner of the tile;
    row_table ones take a 1-D a and `starts` (int64, MR entries) after `accumulate`: a[p, i] = a[starts[i] + p];
    b_table ones a 1-D b, `starts` (int64, kc entries) and `shift`: b[p, j] = b[starts[p] + shift + j];
    out_table ones a 1-D out and `starts` (int64, MR entries): tile row i goes to out[starts[i] + j0:]."""

    def resolve(args):
        kc, a, b, out = args[:4]
        flat = a if row_table else b if b_table else out if out_table else None
        arrays = tuple(x for x in (a, b, out) if x is not flat)
        if not all(isinstance(x, types.Array) and x.ndim == 2 for x in arrays):
            return None
        if flat is not None and not (isinstance(flat, types.Array) and flat.ndim == 1 and flat.layout == "C"
                                     and isinstance(args[7], types.Array) and args[7].dtype == types.int64):
            return None
        dtype = out.dtype
        if dtype not in (types.float32, types.float64) or a.dtype != dtype or b.dtype != dtype:
            return None
        mr, nr, lanes = tile_shape(dtype)
        mr = rows or mr
        if width_vectors is not None:
            nr = width_vectors * lanes
        itemsize = 4 if dtype == types.float32 else 8
        scalar = ir.FloatType() if itemsize == 4 else ir.DoubleType()
        return types.void(*args), _tile_codegen(mr, nr, lanes, scalar, itemsize, strided_a, masked, row_table,
                                                b_table, out_table)

    # numba intrinsics need named parameters (a *args typer breaks lowering)
    if row_table or out_table:
        def typer(typingctx, kc, a, b, out, i0, j0, accumulate, starts):
            return resolve((kc, a, b, out, i0, j0, accumulate, starts))
    elif b_table:
        def typer(typingctx, kc, a, b, out, i0, j0, accumulate, starts, shift):
            return resolve((kc, a, b, out, i0, j0, accumulate, starts, shift))
    elif masked:
        def typer(typingctx, kc, a, b, out, i0, j0, accumulate, rows, cols):
            return resolve((kc, a, b, out, i0, j0, accumulate, rows, cols))
    else:
        def typer(typingctx, kc, a, b, out, i0, j0, accumulate):
            return resolve((kc, a, b, out, i0, j0, accumulate))

    typer.__name__ = typer.__qualname__ = name
    return typer


# out[i0:i0+MR, j0:j0+NR] (+)= a[:kc, :MR].T @ b[:kc, :NR], MR x NR from tile_shape(out.dtype)
register_tile = intrinsic(_tile_intrinsic(None, "register_tile"))
# the narrow-N tile: MR x one vector (N = 10 would waste 22 of 32 columns of the full float32 avx512 tile)
register_narrow_tile = intrinsic(_tile_intrinsic(1, "register_narrow_tile"))
# A read in place (any strides: an unpacked row block of a C-contiguous op(a)), full and narrow widths
register_tile_strided_a = intrinsic(_tile_intrinsic(None, "register_tile_strided_a", strided_a=True))
register_narrow_tile_strided_a = intrinsic(_tile_intrinsic(1, "register_narrow_tile_strided_a", strided_a=True))
# edge tiles straight into out: (..., accumulate, rows, cols) with rows <= MR, cols <= the tile's width
register_tile_masked = intrinsic(_tile_intrinsic(None, "register_tile_masked", masked=True))
register_narrow_tile_masked = intrinsic(_tile_intrinsic(1, "register_narrow_tile_masked", masked=True))
register_narrow_tile_strided_a_masked = intrinsic(
    _tile_intrinsic(1, "register_narrow_tile_strided_a_masked", strided_a=True, masked=True))
register_tile_strided_a_masked = intrinsic(
    _tile_intrinsic(None, "register_tile_strided_a_masked", strided_a=True, masked=True))


# The last, partial row panel (a batch of 256 leaves 4 rows of 12-row panels): a tile of a third of MR rows
# over the zero-padded packed panel, so 4 rows cost 4 rows of FMAs, not 12 (gemm._edge_tile)
SHORT_ROWS = max(1, PARAMS.mr // 3)
register_tile_masked_short = intrinsic(
    _tile_intrinsic(None, "register_tile_masked_short", masked=True, rows=SHORT_ROWS))
register_narrow_tile_masked_short = intrinsic(
    _tile_intrinsic(1, "register_narrow_tile_masked_short", masked=True, rows=SHORT_ROWS))


# A gathered from MR rows of one flat array (a[starts[i] + p]): the wide-row dW of a stride-1 convolution reads
# its im2col rows where they lie in the padded image, so they are never packed. Full and narrow widths.
register_tile_row_table = intrinsic(_tile_intrinsic(None, "register_tile_row_table", row_table=True))
register_narrow_tile_row_table = intrinsic(_tile_intrinsic(1, "register_narrow_tile_row_table", row_table=True))
# out's MR rows anywhere in one flat array (out[starts[i] + j0:]): col2im adds a tile of Wᵀ δ straight onto the
# input-pixel runs it belongs to, with no tile buffer in between
register_tile_out_table = intrinsic(_tile_intrinsic(None, "register_tile_out_table", out_table=True))


_SHORT_TILES: dict = {}


def short_tile(rows: int, b_table: bool = False):
    """register_tile with `rows` rows (the A panels have `rows` columns): the convolution's tile, MR or the
    short height its output channels fill better (params.short_mr). b_table: B's kc rows read in place from
    one flat array (a stride-1 convolution's wide im2col rows), never packed. One intrinsic each, on first use."""
    key = (rows, b_table)
    if key == (PARAMS.mr, False):
        return register_tile
    if key not in _SHORT_TILES:
        name = f"register_tile_{rows}_rows" + ("_b_table" if b_table else "")
        _SHORT_TILES[key] = intrinsic(_tile_intrinsic(None, name, rows=rows, b_table=b_table))
    return _SHORT_TILES[key]


def tile_width(x):
    """NR for the dtype of array x, as a compile-time constant (inside numba kernels)."""
    raise TypeError("tile_width is only usable inside numba kernels")


@overload(tile_width, inline="always")
def _tile_width_impl(x):
    nr = tile_shape(x.dtype)[1]
    return lambda x: nr
