"""The packed GEMM (gemm.py) on mark1's worker threads (workers.py): ~1 us to start a job, not numba's ~6.

The same two steps as gemm._gemm_packed, each a job: pack op(b) into column panels (chunks of its rows),
then the variant's task over the task grid (one chunk per task). When each thread runs one task and either
the tasks split columns or op(b) packs into at most L2/16, there is one job: every task packs the panels it
multiplies (256x128.128x64 on two threads: 22.9-23.8 -> 19.2-19.6 us), so no thread waits for the other's
packing or reads panels from the other core's cache. (With a 400 KiB op(b) packed per task, 256x784.784x128
took 166-175 us in a long loop but 280 us in short bursts: a fresh buffer per call in a worker thread.)
The arrays travel to the tasks in an int64 parameter block and are rebuilt there with the types each task
copy is compiled for.
"""

from __future__ import annotations

import numba
import numpy as np

from mark1.kernels.cpu import workers
from mark1.kernels.cpu._atomics import array_at, keep_alive, slot_at
from mark1.kernels.cpu._jit import jit, jit_inline, readonly, renamed
from mark1.kernels.cpu.gemm import PACKED_KERNELS, plan, task_columns, variant_suffix
from mark1.kernels.cpu.packing import (
    add_partial_sums,
    aligned_empty,
    chunk_rows,
    pack_b_copy,
    pack_b_panels,
    pack_chunks,
)
from mark1.kernels.cpu.params import PARAMS

# parameter block slots: 2-D arrays take 5 (pointer, shape, strides), 1-D 3, the 4-D packed B 9
A_AT, A2_AT, B_AT, B2_AT, OUT_AT, BIAS_AT, COLSUM_AT, BP_AT, PARTIAL_AT = 0, 5, 10, 15, 20, 25, 28, 31, 40
A_CODE_AT, B_CODE_AT, ACT_AT, ROW_TASKS_AT, COL_TASKS_AT, KC_AT, SELF_PACK_AT, CHUNKS_AT, PARAM_SLOTS = range(45, 54)
# packed op(b) up to this size (L2/16) is packed by every task for itself when each thread runs one task and
# the tasks split rows (see _gemm_pooled); larger, the threads share one packing job
SELF_PACK_BYTES = PARAMS.gemm_self_pack_bytes
SHARED_BUFFER, OWN_BUFFER = 1, 2  # how a compute task packs its own B panels (0: a packing job did)
# replaced in each task's copy (renamed): the numba types the arrays are rebuilt as, and the variant
IN_2D = OUT_2D = IN_1D = OUT_1D = PACKED = None
FUSED = True
TASK = PACK_ROWS = None


def _pack_task(params, chunk):
    """Chunk `chunk` of op(b)'s rows, every panel, into the shared buffer; its column sums into its own row
    of the partial sums (chunks of rows share columns; the caller adds the rows up)."""
    depth = array_at(params, B_AT, IN_2D).shape[0]
    bp = array_at(params, BP_AT, PACKED)
    k_lo, k_hi = chunk_rows(chunk, slot_at(params, CHUNKS_AT), depth)
    q_lo, q_hi = chunk_rows(0, 1, bp.shape[1])
    PACK_ROWS(params, bp, q_lo, q_hi, k_lo, k_hi, array_at(params, PARTIAL_AT, OUT_2D)[chunk])


def _pack_rows(params, bp, q_lo, q_hi, k_lo, k_hi, sums):
    """Rows k_lo..k_hi of panels q_lo..q_hi of op(b) into bp, sums = their column sums (the fused variants;
    both tasks inline their variant's copy: PACK_ROWS)."""
    b = array_at(params, B_AT, IN_2D)
    if FUSED:
        pack_b_panels(b, array_at(params, B2_AT, IN_2D), slot_at(params, B_CODE_AT), bp, q_lo, q_hi, k_lo, k_hi,
                      sums)
    else:
        pack_b_copy(b, bp, q_lo, q_hi, k_lo, k_hi)


def _compute_task(params, task):
    bp = array_at(params, BP_AT, PACKED)
    mode = slot_at(params, SELF_PACK_AT)
    if mode:  # this task packs the B panels it multiplies: into the shared buffer (1) or one of its own (2)
        lo, hi = task_columns(task, slot_at(params, COL_TASKS_AT), bp.shape[1])
        if mode == OWN_BUFFER:
            bp = aligned_empty(bp.shape, bp)
        # no column sums in either mode (see _gemm_pooled), so the task packs without them
        k_lo, k_hi = chunk_rows(0, 1, array_at(params, B_AT, IN_2D).shape[0])
        PACK_ROWS(params, bp, lo, hi, k_lo, k_hi, array_at(params, COLSUM_AT, OUT_1D))
    TASK(array_at(params, A_AT, IN_2D), array_at(params, A2_AT, IN_2D), slot_at(params, A_CODE_AT),
         array_at(params, B_AT, IN_2D), array_at(params, B2_AT, IN_2D), slot_at(params, B_CODE_AT),
         array_at(params, OUT_AT, OUT_2D), array_at(params, BIAS_AT, IN_1D), slot_at(params, ACT_AT),
         bp, task, slot_at(params, ROW_TASKS_AT), slot_at(params, COL_TASKS_AT), slot_at(params, KC_AT))


@jit
def _gemm_pooled(a, a2, a_code, b, b2, b_code, out, bias, act, colsum, threads, in_place, control, pack, compute,
                 self_pack_bytes, ws):
    """_gemm_packed's two steps on mark1's workers: pack (the variant's _pack_task), compute (_compute_task)."""
    bp, col_panels, row_tasks, col_tasks, kc_max = plan(a, b, out, threads, in_place, ws)
    params = np.empty(PARAM_SLOTS, np.int64)
    workers.put_array(params, A_AT, a)
    workers.put_array(params, A2_AT, a2)
    workers.put_array(params, B_AT, b)
    workers.put_array(params, B2_AT, b2)
    workers.put_array(params, OUT_AT, out)
    workers.put_array(params, BIAS_AT, bias)
    workers.put_array(params, COLSUM_AT, colsum)
    workers.put_array(params, BP_AT, bp)
    params[A_CODE_AT], params[B_CODE_AT], params[ACT_AT] = a_code, b_code, act
    params[ROW_TASKS_AT], params[COL_TASKS_AT], params[KC_AT] = row_tasks, col_tasks, kc_max
    # One task per thread: split by columns, each task packs only the panels it multiplies (into the shared
    # buffer: they are disjoint); split by rows, a small op(b) is packed by every task into a buffer of its
    # own (not a large one: a fresh buffer per call in a worker thread can cost page faults). Either way one
    # job instead of two, and no thread reads panels freshly packed in the other core's cache. Not with
    # column sums: the packing job adds them chunk by chunk of rows, and only that order gives the serial
    # kernel's bits (a task summing its columns in one pass differed in the last bit; keeping that order
    # in the task too cost a first matmul 0.3 s of compiling).
    mode = 0
    if row_tasks * col_tasks == threads and colsum.size == 0:
        if col_tasks == threads:
            mode = SHARED_BUFFER
        elif bp.size * bp.itemsize <= self_pack_bytes:
            mode = OWN_BUFFER
    params[SELF_PACK_AT] = mode
    chunks = 0 if mode else pack_chunks(b.shape[0])
    partial = np.empty((chunks, colsum.size), out.dtype)  # each chunk's column sums (pack_b_panels sets them)
    workers.put_array(params, PARTIAL_AT, partial)
    params[CHUNKS_AT] = chunks
    if not mode:
        workers.run(control, pack, params, chunks, threads)
        add_partial_sums(colsum, partial)
    workers.run(control, compute, params, row_tasks * col_tasks, threads)
    keep_alive(bp)
    keep_alive(partial)



_POOLED_TASKS: dict = {}


def pooled_tasks(fused: bool, in_place: bool, dtype: np.dtype) -> tuple[int, int]:
    """The C addresses of a variant's pack and compute tasks for dtype, compiled (or loaded) on first use."""
    key = (fused, in_place, dtype)
    if key not in _POOLED_TASKS:
        t = numba.from_dtype(dtype)
        constants = dict(IN_2D=readonly(t, 2), OUT_2D=t[:, ::1], IN_1D=readonly(t, 1), OUT_1D=t[:],
                         PACKED=t[:, :, :, ::1], FUSED=fused, INPLACE=in_place,
                         TASK=PACKED_KERNELS[fused, in_place].task)
        name = variant_suffix(fused, in_place) + "_" + dtype.name
        constants["PACK_ROWS"] = jit_inline(renamed(_pack_rows, name, **constants))
        _POOLED_TASKS[key] = tuple(workers.compile_task(f, name, **constants) for f in (_pack_task, _compute_task))
    return _POOLED_TASKS[key]


def gemm_pooled(fused: bool, in_place: bool, a, a2, a_code, b, b2, b_code, out, bias, act, colsum,
                threads: int, ws=None) -> None:
    """The packed GEMM of variant (fused, in_place) on this thread and threads - 1 of mark1's workers; ws: a
    workspace for the packed B (dense.workspace), or None for a fresh buffer."""
    pack, compute = pooled_tasks(fused, in_place, out.dtype)
    _gemm_pooled(a, a2, a_code, b, b2, b_code, out, bias, act, colsum, threads, in_place, workers.control(), pack,
                 compute, SELF_PACK_BYTES, np.empty(0, out.dtype) if ws is None else ws)
