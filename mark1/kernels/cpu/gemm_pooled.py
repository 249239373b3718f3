"""The packed GEMM (gemm.py) on mark1's worker threads (workers.py): ~1 us to start a job, not numba's ~6.

The same two steps as gemm._gemm_packed, each a job: pack op(b) into column panels (one chunk per panel),
then the variant's task over the task grid (one chunk per task). The arrays travel to the tasks in an int64
parameter block and are rebuilt there with the types each task copy is compiled for.
"""

from __future__ import annotations

import numba
import numpy as np

from mark1.kernels.cpu import workers
from mark1.kernels.cpu._atomics import array_at, keep_alive, slot_at
from mark1.kernels.cpu._jit import jit, readonly
from mark1.kernels.cpu.gemm import PACKED_KERNELS, plan, variant_suffix
from mark1.kernels.cpu.packing import pack_b_copy, pack_b_panel

# parameter block slots: 2-D arrays take 5 (pointer, shape, strides), 1-D 3, the 4-D packed B 9
A_AT, A2_AT, B_AT, B2_AT, OUT_AT, BIAS_AT, COLSUM_AT, BP_AT = 0, 5, 10, 15, 20, 25, 28, 31
A_CODE_AT, B_CODE_AT, ACT_AT, ROW_TASKS_AT, COL_TASKS_AT, KC_AT, PARAM_SLOTS = 40, 41, 42, 43, 44, 45, 46
# replaced in each task's copy (renamed): the numba types the arrays are rebuilt as, and the variant
IN_2D = OUT_2D = IN_1D = OUT_1D = PACKED = None
FUSED = True
TASK = None


def _pack_task(params, q):
    b = array_at(params, B_AT, IN_2D)
    bp = array_at(params, BP_AT, PACKED)
    if FUSED:
        pack_b_panel(b, array_at(params, B2_AT, IN_2D), slot_at(params, B_CODE_AT), bp, q,
                     array_at(params, COLSUM_AT, OUT_1D))
    else:
        pack_b_copy(b, bp, q)


def _compute_task(params, task):
    TASK(array_at(params, A_AT, IN_2D), array_at(params, A2_AT, IN_2D), slot_at(params, A_CODE_AT),
         array_at(params, B_AT, IN_2D), array_at(params, B2_AT, IN_2D), slot_at(params, B_CODE_AT),
         array_at(params, OUT_AT, OUT_2D), array_at(params, BIAS_AT, IN_1D), slot_at(params, ACT_AT),
         array_at(params, BP_AT, PACKED), task, slot_at(params, ROW_TASKS_AT), slot_at(params, COL_TASKS_AT),
         slot_at(params, KC_AT))


@jit
def _gemm_pooled(a, a2, a_code, b, b2, b_code, out, bias, act, colsum, threads, in_place, control, pack, compute):
    """_gemm_packed's two steps on mark1's workers: pack (the variant's _pack_task), compute (_compute_task)."""
    bp, col_panels, row_tasks, col_tasks, kc_max = plan(a, b, out, threads, in_place)
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
    workers.run(control, pack, params, col_panels, threads)
    workers.run(control, compute, params, row_tasks * col_tasks, threads)
    keep_alive(bp)



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
        _POOLED_TASKS[key] = tuple(workers.compile_task(f, name, **constants) for f in (_pack_task, _compute_task))
    return _POOLED_TASKS[key]


def gemm_pooled(fused: bool, in_place: bool, a, a2, a_code, b, b2, b_code, out, bias, act, colsum,
                threads: int) -> None:
    """The packed GEMM of variant (fused, in_place) on this thread and threads - 1 of mark1's workers."""
    pack, compute = pooled_tasks(fused, in_place, out.dtype)
    _gemm_pooled(a, a2, a_code, b, b2, b_code, out, bias, act, colsum, threads, in_place, workers.control(), pack,
                 compute)
