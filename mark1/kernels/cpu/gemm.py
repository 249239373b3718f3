"""The GEMM: out = act(op(a) @ op(b) + bias), cache-blocked, register-tiled, parallel over row blocks of out.

BLIS-style structure, sized by params.py from the detected caches (L1d, L2) and vector ISA:
- op(b) is packed once into column panels of NR (K x NR, contiguous, zero-padded), in parallel.
- out's rows are split into tasks (at most MC_PANELS panels of MR rows, a multiple of the thread count);
  for each K block of at most KC, a task packs its rows of op(a) into panels of MR (kc x MR, in L2) and runs
  the micro-kernel over its tiles: row panel by row panel, each A panel (the broadcast operand) staying in
  L1 while a chunk of NC_PANELS B panels (kc x NR each, the chunk in L2) streams past it. When N spans
  only a few B panels, an untransformed unit-stride op(a) is read in place instead of packed (see _task),
  and N <= NR/2 (a classifier's 10 outputs) runs a half-width tile.
- The micro-kernel (microkernel.py, LLVM vector IR generated for the path) keeps one MR x NR tile in vector
  registers and adds it straight into out (edge tiles with masked loads and stores); after the last K block the
  bias and activation are applied to the tile while it is still in cache. Packing reads any strides, so
  transposed and sliced inputs cost nothing extra, and zero padding lets the micro-kernel always run a full tile.

Operand transforms fuse the dense layer's backward: `op(b) = b * act'(b2)` computes delta = dy * act'(y)
while packing (never stored), and `colsum` collects db = sum(delta, axis 0) in the same pass.
"""

from __future__ import annotations

from contextlib import contextmanager

import numpy as np
from numba import int64, prange
from numba.extending import overload

from mark1.kernels.cpu._intrinsics import ALIGN_PAD, aligned_view, prefetch_for_write, prefetch_to_l2
from mark1.kernels.cpu._jit import FASTMATH, IDENTITY, cdiv, jit_inline, jit_internal, per_dtype, readonly, renamed
from mark1.kernels.cpu.epilogue import activate_block
from mark1.kernels.cpu.microkernel import (
    SHORT_ROWS,
    register_narrow_tile_masked,
    register_narrow_tile_masked_short,
    register_narrow_tile_strided_a_masked,
    register_tile,
    register_tile_masked,
    register_tile_masked_short,
    register_tile_strided_a_masked,
    tile_width,
)
from mark1.kernels.cpu.packing import (
    add_partial_sums,
    aligned_empty,
    chunk_rows,
    pack_a_copy,
    pack_a_panels,
    pack_a_rows,
    pack_b_copy,
    pack_b_panels,
    pack_chunks,
)
from mark1.kernels.cpu.params import PARAMS

MR = PARAMS.mr            # rows per register tile (both dtypes)
NR_F32 = PARAMS.nr_f32    # columns per float32 tile: two vector registers per row
NR_F64 = PARAMS.nr_f64
KC = PARAMS.kc            # depth of one K block
MC_PANELS = PARAMS.mc_panels  # row panels per task at most
NC_PANELS = PARAMS.nc_panels  # B panels of one chunk (kc x NC in L2)
INPLACE_A_MAX_PANELS = PARAMS.inplace_a_max_panels  # op(a) is read unpacked up to this many B panels
SERIAL_WORK = PARAMS.gemm_serial_work  # multiply-adds below which the packed GEMM runs on one thread
POOLED_SERIAL_WORK = PARAMS.gemm_pooled_serial_work  # the same where it runs on mark1's workers
WAKE_WORK = PARAMS.gemm_wake_work  # ... and wakes them when they sleep (params.GEMM_WAKE_WORK)


def micro_tile(kc, a, b, t):
    """t[:MR, :NR] = a[:kc].T @ b[:kc] for packed panels a (kc, MR) and b (kc, NR) (inside numba kernels)."""
    raise TypeError("micro_tile is only usable inside numba kernels")


def micro_tile_out(kc, a, b, out, i0, j0, accumulate):
    """out[i0:i0+MR, j0:j0+NR] (+)= a[:kc].T @ b[:kc], a full tile, out C-contiguous (inside numba kernels)."""
    raise TypeError("micro_tile_out is only usable inside numba kernels")


# inlined into the caller: as a call, each tile paid for passing four array structs and their refcounts
_MICRO_OPTIONS = dict(inline="always", jit_options=dict(fastmath=FASTMATH, error_model="numpy"))


@overload(micro_tile, **_MICRO_OPTIONS)
def _micro_tile_impl(kc, a, b, t):
    def impl(kc, a, b, t):
        register_tile(kc, a, b, t, 0, 0, False)

    return impl


@overload(micro_tile_out, **_MICRO_OPTIONS)
def _micro_tile_out_impl(kc, a, b, out, i0, j0, accumulate):
    def impl(kc, a, b, out, i0, j0, accumulate):
        register_tile(kc, a, b, out, i0, j0, accumulate)

    return impl


@jit_internal
def _edge_tile(kc, av, panel, out, i0, j0, accumulate, mi, nj):
    """A full-width tile cut by out's last rows or columns (not inlined: the hot loop measured 5% slower at
    512^3 with the masked tile inlined beside the plain one). A panel of at most a third of MR rows runs a
    tile of that height: the 4 rows a batch of 256, 1024 or 4096 leaves cost a 12-row tile's FMAs before.
    (Not also a two-thirds tile for the 8 rows of a batch of 128 or 512: each tile costs a first fit ~0.05 s
    of compiling, and it saves a third of a panel where this one saves two thirds.)"""
    if mi <= SHORT_ROWS:
        register_tile_masked_short(kc, av, panel, out, i0, j0, accumulate, mi, nj)
    else:
        register_tile_masked(kc, av, panel, out, i0, j0, accumulate, mi, nj)


@jit_internal
def _edge_tile_narrow(kc, av, panel, out, i0, j0, accumulate, mi, nj):
    """_edge_tile of the narrow-N (one vector) width, for a partial row panel."""
    if mi <= SHORT_ROWS:
        register_narrow_tile_masked_short(kc, av, panel, out, i0, j0, accumulate, mi, nj)
    else:
        register_narrow_tile_masked(kc, av, panel, out, i0, j0, accumulate, mi, nj)


@jit_internal
def _epilogue(out, i0, j0, mi, nj, bias, act):
    """out tile = act(out tile + bias), row segment by row segment (each a vectorisable loop)."""
    if bias.size:
        bseg = bias[j0:j0 + nj]
        for i in range(mi):
            seg = out[i0 + i, j0:j0 + nj]
            for j in range(nj):
                seg[j] += bseg[j]
    if act != IDENTITY:
        activate_block(out, i0, i0 + mi, j0, j0 + nj, act)


@jit_inline
def _task_grid(rows, cols, col_panels, threads, in_place):
    """(row tasks, column tasks): rows split into L2-sized blocks, rounded up to a multiple of the thread
    count so a static split is balanced; columns split when there are too few rows for the threads.

    A product that reads op(a) in place splits its columns instead when op(a) is small next to packed B:
    split by rows, every thread reads the others' share of packed B ((T-1)/T of K x N, rewritten every call,
    so it comes from the other core); split by columns, it reads all of op(a) (M x K) but only the B panels
    it packed itself (the workers take chunks in the same order in both steps). With op(a) warm in both
    cores (the same product called in a loop; us, rows / columns on two threads): 128x256x128 49 / 33,
    256x128x128 36 / 32, 64x784x128 80 / 63, 256x784x128 173 / 180, 256x128x64 20 / 23. Inside a training step
    op(a) comes from L3, and reading all of it on every thread costs what reading the other core's B does:
    the 256-batch step's 256x784x128 forward took 276-289 us split by columns, 227-240 by rows. So columns
    while M x K <= (T-1)/T x K x N x 2, i.e. M <= N on two threads.
    """
    if in_place and col_panels >= threads and rows * threads <= 2 * (threads - 1) * cols:
        return 1, threads
    row_panels = cdiv(rows, MR)
    row_tasks = min(row_panels, cdiv(cdiv(row_panels, MC_PANELS), threads) * threads)
    col_tasks = 1
    if row_tasks < threads:
        col_tasks = min(col_panels, cdiv(threads, row_tasks))
    return row_tasks, col_tasks


def _signature(t):
    # a, a2, a_code, b, b2, b_code, out (C-contiguous), bias, act, colsum, threads, workspace
    a = readonly(t, 2)
    return (a, a, int64, a, a, int64, t[:, ::1], readonly(t, 1), int64, t[:], int64, t[::1])


def _plain_work(a, b, *rest):
    return a.shape[0] * a.shape[1] * b.shape[1]


def _work(a, a2, a_code, b, *rest):
    return _plain_work(a, b)


def _plain_signature(t):
    # a, b, out (C-contiguous), threads, workspace
    a = readonly(t, 2)
    return (a, a, t[:, ::1], int64, t[::1])


# replaced per variant (see _jit.renamed): numba prunes `if FUSED:` branches before typing them, so each
# variant compiles only its own code, on first use
FUSED = True
INPLACE = False
TASK = None  # the task function of the same variant


@jit_internal
def _sweep_in_place(kc, a, k0, strided, panel, out, r_lo, r_hi, j0, nj, accumulate):
    """The full row panels r_lo..r_hi of op(a), read in place (`strided`: rows not adjacent), times one B
    panel (kc, NR or NR/2), straight into out. Every tile goes through the masked tile (the same FMA loop,
    only its final stores masked), full-width or not, so the in-place variants compile two tiles fewer (a
    first fit 0.15 s). Called once per B panel, so the packed path's inner loop stays as tight as it was."""
    nr = panel.shape[1]
    narrow = nr != tile_width(out)
    for ir in range(r_lo, r_hi):
        i0 = ir * MR
        av = a[i0:i0 + MR, k0:k0 + kc].T
        if narrow:  # the narrow-N path: one vector per row
            if strided:
                register_narrow_tile_strided_a_masked(kc, av, panel, out, i0, j0, accumulate, MR, nj)
            else:
                register_narrow_tile_masked(kc, av, panel, out, i0, j0, accumulate, MR, nj)
        else:
            for i in range(MR):
                prefetch_for_write(out, i0 + i, j0)
                prefetch_for_write(out, i0 + i, j0 + nr - 1)  # a row of the tile spans two lines
            if strided:
                register_tile_strided_a_masked(kc, av, panel, out, i0, j0, accumulate, MR, nj)
            else:
                register_tile_masked(kc, av, panel, out, i0, j0, accumulate, MR, nj)


@jit_inline
def task_columns(task, col_tasks, col_panels):
    """The B panels [lo, hi) of task `task` in the task grid (tasks run row-major over col_tasks columns)."""
    tj = task % col_tasks
    return tj * col_panels // col_tasks, (tj + 1) * col_panels // col_tasks


def _task(a, a2, a_code, b, b2, b_code, out, bias, act, bp, task, row_tasks, col_tasks, kc_max):
    """One task of the packed GEMM: its rows of op(a) per K block times its columns of packed op(b).

    In the INPLACE variants (dense.gemm picks them when reads_a_in_place() says so) op(a) is read in
    place (packing it cost 15-30% of the MLP's products, where each A panel is reused only N/NR times):
    rows with unit stride (C-contiguous a) through the strided-A tile, columns with unit stride (a = x.T)
    as it is, since a block of x is already laid out like a packed panel. Only its last, partial row panel
    is packed. Wider products pack: MR rows a power-of-two stride apart fall into the same L1 sets, and the
    square 512-1024 products lost 10% in place. A function of its own (not the prange body) because numba's
    parfor lowering copies and re-analyses the loop body: one call there made the first compile several
    times faster.
    """
    rows, depth = a.shape
    cols = b.shape[1]
    nr = bp.shape[3]
    row_panels = cdiv(rows, MR)
    col_panels = bp.shape[1]
    k_blocks = cdiv(depth, kc_max)
    epilogue = FUSED and (bias.size > 0 or act != IDENTITY)
    strided = a.strides[0] != a.itemsize  # rows not adjacent: the general-stride tile (any strides)
    ti = task // col_tasks
    r_lo, r_hi = ti * row_panels // row_tasks, (ti + 1) * row_panels // row_tasks
    c_lo, c_hi = task_columns(task, col_tasks, col_panels)
    # packed A panels of the task; the INPLACE variants pack only a partial last one (at most one panel)
    a_base = r_hi - 1 if INPLACE else r_lo
    # one spare row per panel: panels kc_max x MR x 4 bytes apart (12 KiB at 256 x 12) put the same k of every
    # panel in one L1 set, and packing a = x.T, which writes that k of every panel in turn, missed L1 on
    # every write (65 panels of a 784-wide x, 64 K blocks from L2: 5.3 -> 2.9 ms with the spare row)
    ap = np.empty((r_hi - a_base, kc_max + 1, MR), out.dtype)
    full = tile_width(out)
    # a = x.T, packed: the next K block's rows of x (a few per micro-kernel call, every cache line of the
    # task's part of each) are prefetched into L2 during this block's arithmetic, so packing them does not
    # wait on memory (x.T @ g, 784 x 16384 . 16384 x 128, two threads: 0.90-0.91 -> 0.95-0.98 of OpenBLAS)
    ahead = not INPLACE and a.strides[0] == a.itemsize
    r_end = min(rows, r_hi * MR)
    line = 64 // a.itemsize
    for kb in range(k_blocks):
        k0 = kb * kc_max
        kc = min(kc_max, depth - k0)
        if not INPLACE:
            if FUSED:
                pack_a_rows(a, a2, a_code, ap, r_lo, k0, kc)
            else:
                pack_a_panels(a, ap, r_lo, k0, kc)
            next_kc = min(kc_max, depth - k0 - kc) if ahead else 0  # rows of x to prefetch, per_call a call
            per_call = cdiv(next_kc, max(1, (r_hi - r_lo) * (c_hi - c_lo)))
            call = 0
        elif r_hi * MR > rows:  # the partial last row panel is ours: pack it alone
            pack_a_copy(a, ap, a_base, k0, kc)
        first = r_lo
        if INPLACE:  # every full row panel of the task read in place, B panel by B panel
            first = max(r_lo, min(r_hi, rows // MR))
            for jr in range(c_lo, c_hi):
                j0 = jr * nr
                nj = min(nr, cols - j0)
                _sweep_in_place(kc, a, k0, strided, bp[kb, jr, :kc], out, r_lo, first, j0, nj, kb > 0)
                if epilogue and kb == k_blocks - 1:
                    _epilogue(out, r_lo * MR, j0, (first - r_lo) * MR, nj, bias, act)
        # packed row panels (in the INPLACE variants only a partial last one): row panel outer, B panels
        # inner within a chunk of NC_PANELS, so the A panel (the broadcast operand) stays in L1 and the
        # chunk of B panels in L2, as in BLIS (B panel outer lost 10-20% at 1024^3 and 2048^3)
        for jc in range(c_lo, c_hi, NC_PANELS):
            for ir in range(first, r_hi):
                i0 = ir * MR
                mi = min(MR, rows - i0)
                apanel = ap[ir - a_base]
                for jr in range(jc, min(c_hi, jc + NC_PANELS)):
                    panel = bp[kb, jr, :kc]
                    j0 = jr * nr
                    nj = min(nr, cols - j0)
                    if not INPLACE:  # (pruned from the in-place variants, which never pack x.T)
                        for p in range(call * per_call, min(next_kc, (call + 1) * per_call)):
                            for r in range(r_lo * MR, r_end, line):
                                prefetch_to_l2(a, r, k0 + kc + p)
                        call += 1
                    if nr != full:  # the narrow-N path: one vector per row
                        if mi == MR:
                            register_narrow_tile_masked(kc, apanel, panel, out, i0, j0, kb > 0, mi, nj)
                        else:  # the partial last row panel
                            _edge_tile_narrow(kc, apanel, panel, out, i0, j0, kb > 0, mi, nj)
                    elif not INPLACE and mi == MR and nj == nr:  # (INPLACE packs only a partial panel)
                        for i in range(MR):
                            prefetch_for_write(out, i0 + i, j0)
                            prefetch_for_write(out, i0 + i, j0 + nr - 1)  # a tile row spans two lines
                        register_tile(kc, apanel, panel, out, i0, j0, kb > 0)
                    else:  # an edge tile: only its corner of out is written (a call: keeps this loop lean)
                        _edge_tile(kc, apanel, panel, out, i0, j0, kb > 0, mi, nj)
                    if epilogue and kb == k_blocks - 1:
                        _epilogue(out, i0, j0, mi, nj, bias, act)


@jit_inline
def plan(a, b, out, threads, in_place, ws):
    """(packed B buffer (K blocks, panels, kc, NR), B panels, task rows, task columns, K block depth) of a
    product, for both drivers. The buffer is the front of `ws` (the caller's workspace) when that is large
    enough, else a fresh array (see dense.workspace: why large products bring one)."""
    depth, cols = b.shape
    nr = tile_width(out)
    if cols <= nr // 2:  # narrow N (a classifier's 10 outputs): half-width panels, half the wasted columns
        nr = nr // 2
    col_panels = cdiv(cols, nr)
    kc_max = cdiv(depth, cdiv(depth, KC))  # equal blocks: 784 = 4 x 196 rather than 3 x 256 + 16
    row_tasks, col_tasks = _task_grid(a.shape[0], cols, col_panels, threads, in_place)
    # K-block major (see packing.pack_b_copy): each K block's panels are one contiguous run
    shape = (cdiv(depth, kc_max), col_panels, kc_max, nr)
    size = shape[0] * col_panels * kc_max * nr
    bp = aligned_view(ws, shape) if ws.size >= size + ALIGN_PAD else aligned_empty(shape, out)
    return bp, col_panels, row_tasks, col_tasks, kc_max


def _gemm_packed(a, a2, a_code, b, b2, b_code, out, bias, act, colsum, threads, ws):
    """out = act(op(a) @ op(b) + bias); colsum += column sums of op(b) when colsum is non-empty.

    op(x) = x * act'(x2) for x_code != IDENTITY, else x. a (M, K), b (K, N), out (M, N), K >= 1.
    Two parallel regions: pack all of op(b), in chunks of rows; then each task packs its rows of op(a) per K
    block and runs the micro-kernel over its tiles, adding bias and activation to each tile after its last K block.
    (gemm_pooled.py runs the same two steps as jobs for mark1's workers; _gemm_packed_plain is out = a @ b.)
    """
    bp, col_panels, row_tasks, col_tasks, kc_max = plan(a, b, out, threads, INPLACE, ws)
    depth = b.shape[0]
    chunks = pack_chunks(depth)
    q_lo, q_hi = chunk_rows(0, 1, col_panels)  # all panels, as computed values (see packing.chunk_rows)
    partial = np.empty((chunks, colsum.size), out.dtype)  # column sums per chunk of rows, added up after
    for c in prange(chunks):
        k_lo, k_hi = chunk_rows(c, chunks, depth)
        pack_b_panels(b, b2, b_code, bp, q_lo, q_hi, k_lo, k_hi, partial[c])
    add_partial_sums(colsum, partial)
    for task in prange(row_tasks * col_tasks):
        TASK(a, a2, a_code, b, b2, b_code, out, bias, act, bp, task, row_tasks, col_tasks, kc_max)


def _gemm_packed_plain(a, b, out, threads, ws):
    """out = a @ b: _gemm_packed's two regions with no transform, bias, activation or column sums, behind five
    arguments instead of twelve. numba's dispatcher types every argument of every call, ~0.035 us apiece:
    0.25 us of the 6 us that `m1.matmul` takes for 256x64 . 64x10."""
    bp, col_panels, row_tasks, col_tasks, kc_max = plan(a, b, out, threads, INPLACE, ws)
    depth = b.shape[0]
    chunks = pack_chunks(depth)
    q_lo, q_hi = chunk_rows(0, 1, col_panels)
    for c in prange(chunks):
        k_lo, k_hi = chunk_rows(c, chunks, depth)
        pack_b_copy(b, bp, q_lo, q_hi, k_lo, k_hi)
    none = ws[:0]  # the task's bias: never read without FUSED
    for task in prange(row_tasks * col_tasks):
        TASK(a, a, IDENTITY, b, b, IDENTITY, out, none, IDENTITY, bp, task, row_tasks, col_tasks, kc_max)


def reads_a_in_place(a, a_code: int, cols: int) -> bool:
    """Whether the GEMM reads op(a) unpacked: untransformed, a unit stride, and N spanning few B panels.

    Except a transposed op(a) (a = x.T: unit stride down its columns) whose K rows lie 2 KiB or more apart
    over at least 4 K blocks: read in place, every step of the micro-kernel touches another row of x, a page
    apart. Measured on two threads (x.T @ g, 784 x K . K x 128, us in place / packed): K 256 172 / 174,
    512 323 / 346, 1024 737 / 715, 4096 3057 / 2878, 16384 13331 / 11654; a 128-wide x (512 B apart) read in
    place stays faster at every K (4096: 343 / 384).
    """
    if a_code != IDENTITY:
        return False
    itemsize, (step0, step1) = a.itemsize, a.strides  # (each attribute access builds a new object)
    nr = NR_F32 if itemsize == 4 else NR_F64
    if cols <= nr // 2:
        nr //= 2
    if step0 == itemsize and step1 >= 2048 and a.shape[1] >= 4 * KC:
        return False
    return (step0 == itemsize or step1 == itemsize) and -(-cols // nr) <= INPLACE_A_MAX_PANELS


def _packed_kernel(fused: bool, in_place: bool):
    suffix = variant_suffix(fused, in_place)
    task = jit_internal(renamed(_task, suffix, FUSED=fused, INPLACE=in_place))
    if fused:
        kernel = renamed(_gemm_packed, suffix, FUSED=fused, INPLACE=in_place, TASK=task)
        kernel = per_dtype(_signature, dtype_arg=6, parallel=True, work=_work, serial_below=SERIAL_WORK)(kernel)
    else:  # kernel.run(serial, a, b, out, threads, ws)
        kernel = renamed(_gemm_packed_plain, suffix.replace("_plain", ""), INPLACE=in_place, TASK=task)
        kernel = per_dtype(_plain_signature, dtype_arg=2, parallel=True, work=_plain_work,
                           serial_below=SERIAL_WORK)(kernel)
    kernel.task = task
    return kernel


def variant_suffix(fused: bool, in_place: bool) -> str:
    return ("_fused" if fused else "_plain") + ("_in_place" if in_place else "")


# (fused, reads op(a) in place) -> the packed kernel; gemm_packed / matmul_packed: the packing ones
PACKED_KERNELS = {(f, i): _packed_kernel(f, i) for f in (True, False) for i in (False, True)}
gemm_packed, matmul_packed = PACKED_KERNELS[True, False], PACKED_KERNELS[False, False]


@contextmanager
def thresholds(serial_work: int | None = None, pooled_work: int | None = None):
    """Tests: other GEMM size thresholds for the block's duration (serial_work=0 threads every product, on
    mark1's workers unless pooled_work says otherwise; pooled_work defaults to serial_work when that is given,
    so serial_work=1 << 62 keeps every product on one thread)."""
    global SERIAL_WORK, POOLED_SERIAL_WORK, WAKE_WORK
    saved = SERIAL_WORK, POOLED_SERIAL_WORK, WAKE_WORK
    SERIAL_WORK = saved[0] if serial_work is None else serial_work
    POOLED_SERIAL_WORK = pooled_work if pooled_work is not None else saved[1] if serial_work is None else serial_work
    WAKE_WORK = 0  # a test's threads must not depend on whether the workers happen to sleep
    for kernel in PACKED_KERNELS.values():
        kernel.serial_below = SERIAL_WORK
    try:
        yield
    finally:
        SERIAL_WORK, POOLED_SERIAL_WORK, WAKE_WORK = saved
        for kernel in PACKED_KERNELS.values():
            kernel.serial_below = SERIAL_WORK
