"""The one per-ISA parameter table of the numba CPU kernels, chosen at import from mark1.hardware's detection.

BLIS's model: one micro-kernel shape per architecture, picked at run time. `PARAMS` holds the choice for
this process; MARK1_ISA=avx2|avx512 forces a path (an error if this CPU cannot run it), and numba's code
generator is told the same target (NUMBA_CPU_NAME/NUMBA_CPU_FEATURES, see `configure_numba`), so the forced
AVX2 path compiles exactly what an AVX2-only machine would run.

Register tiles (MR rows x NR columns of out held in vector registers; row-major, NR along the vector):
- avx512 (32 zmm): 12 x 32 float32 (2 zmm per row, 24 accumulators; the row-major mirror of BLIS skx's
  32 x 12), 12 x 16 float64.
- avx2 (16 ymm): 6 x 16 float32 (2 ymm per row, 12 accumulators; BLIS haswell 6 x 16), 6 x 8 float64.
Blocking from the caches: the packed B micro-panel (KC x NR) and an A panel (KC x MR) share L1d (the B one
about 2/3 of it), the task's packed A block (MC x KC) and a chunk of B panels (KC x NC) about half of L2 each.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace

from mark1.hardware import AVX2_KERNEL_FLAGS, AVX512_KERNEL_FLAGS, CpuFacts, cpu_facts

ISA_ENV = "MARK1_ISA"
ISA_FLAGS = {"avx512": AVX512_KERNEL_FLAGS, "avx2": AVX2_KERNEL_FLAGS}
DEFAULT_L1D = 32 << 10   # where sysfs and cpuid say nothing: the smallest L1d of any AVX2 core we know
DEFAULT_L2 = 512 << 10
# Elementwise/row/update kernels run on one thread below this many elements (x a per-op cost factor, see
# elementwise.py). Measured on 2 vCPUs (Xeon, AVX-512): a parallel region costs ~2-3 us when numba's workers
# are still spinning from the previous one (back-to-back calls) and ~25 us when they slept (threads.py: they
# sleep after ~20 us); at 2^16 two threads beat one for every activation in back-to-back calls (relu
# 7.6 -> ~5 us, sigmoid 21 -> 13 us), while a lone call after idle pays the 25 us wake-up, hence no lower.
ELEMENTWISE_SERIAL_BELOW = 1 << 16
# With mark1's own workers (workers.py: a job starts in ~1 us, numba's TBB region in ~6) a contiguous
# elementwise pass goes to two threads from this many elements, two chunks (measured in elementwise.py).
POOLED_SERIAL_BELOW = 1 << 15
# The packed GEMM runs on one thread below this many multiply-adds. Measured on 2 vCPUs (Xeon, AVX-512, numba
# on TBB), median us serial / threaded: 256x128x64 (2.1 M) 31 / 38, 128x256x128 (4.2 M) 63 / 68,
# 64x784x256 (12.8 M) 249 / 181, 256x256x256 (16.8 M) 217 / 138: a parallel region's wake-up and join cost
# more than half a 4 M product, so the break-even lies between 4 M and 12 M.
GEMM_SERIAL_WORK = 1 << 23
# The same on mark1's workers (a job starts in ~1 us). Measured (us serial / on two threads): 256x64x32
# (0.5 M) 8.4 / 7.6, 128x64x64 8.9 / 7.1, 256x64x64 (1 M) 14.8 / 11.9, 64x256x64 21.6 / 18.2, 512x64x64 (2 M)
# 27.5 / 19.0: threads pay off from about half a million multiply-adds.
GEMM_POOLED_SERIAL_WORK = 1 << 19
# ... but while every worker sleeps (idle for 250 us, or at once next to a spinning thread: workers.py), a
# product below this runs on the caller alone: waking an idle vCPU's worker takes hundreds of us on a VM, it
# arrives when the caller is nearly done, and the caller then waits for its chunk. Measured on the Xeon
# after 1 ms idle (us, worker woken / one thread): 256x128x64 (2 M) 41 / 36-38, 256x256x64 70-71 / 63-64,
# 256x256x128 (8 M) 120-128 / 120-123, 256x784x128 352-366 / 357-369, 1024x1024x256 1977 / 3548. Next to
# OpenBLAS's spinning worker (its vCPU awake) the wake is quick: 256x784x128 246-275 us woken, 360 alone.
GEMM_WAKE_WORK = 1 << 23
# The RBM's whole-epoch kernel (rbm_epoch.py) runs on numba's threads from this much work per update,
# (batch + 8) x n_visible x n_hidden: the products scale with the batch, the pass over W (momentum, step, the
# transposed copy) costs about 8 rows' worth. Measured (2 vCPUs, ms per epoch serial / threaded): 784x500
# batch 5 56 / 48, batch 10 70 / 63, batch 100 35 / 22; 256x256 batch 40 12.3 / 13.7; 64x256 batch 200
# 3.6 / 3.5; 64x100 (digits) batch 100 1.9 / 3.0: about ten parallel regions per update cost ~100 us.
RBM_PARALLEL_WORK = 1 << 22


@dataclass(frozen=True)
class KernelParams:
    isa: str                  # 'avx512' | 'avx2' | 'generic'
    vector_bytes: int         # register width the micro-kernel uses
    mr: int                   # rows of a register tile (both dtypes)
    short_mr: int             # rows of the short tile conv picks when its output channels fill it better
    nr_f32: int               # columns of a float32 tile (a multiple of the float32 lanes)
    nr_f64: int
    kc: int                   # depth of one K block (B micro-panel KC x NR in L1)
    mc_panels: int            # row panels of MR per task at most (A block MC x KC in L2)
    nc_panels: int            # B panels of NR swept per A panel (a chunk KC x NC in L2)
    inplace_a_max_panels: int  # op(a) is read in place, unpacked, when N spans at most this many NR panels
    gemm_serial_work: int     # multiply-adds below which the packed GEMM runs on one thread
    elementwise_serial_below: int  # elements below which an elementwise/row/update kernel runs on one thread
    pooled_serial_below: int  # the same for contiguous activations on mark1's workers
    gemm_pooled_serial_work: int  # multiply-adds below which the GEMM runs on one thread, on mark1's workers
    gemm_wake_work: int       # ... and below which it does not wake sleeping workers
    gemm_self_pack_bytes: int  # packed op(b) up to this size: each worker packs its own copy (gemm_pooled.py)
    rbm_parallel_work: int    # (batch + 8) x n_visible x n_hidden from which the RBM epoch runs threaded
    source: str               # why this table row (detected or forced)


def _blocking(l1d: int, l2: int, mr: int, nr_bytes: int) -> tuple[int, int]:
    kc = (l1d * 2 // 3) // nr_bytes // 16 * 16
    kc = max(128, min(512, kc))
    # NR_F64 = NR_F32 / 2, so a float64 B micro-panel has the same bytes; a float64 A block has twice them
    # (then half of L2 is all of it, still resident)
    mc_panels = max(4, min(128, (l2 // 2) // (kc * 4 * mr)))
    return kc, mc_panels


def table_row(isa: str, facts: CpuFacts, source: str) -> KernelParams:
    """The parameters for kernel path `isa` on a CPU with these cache sizes."""
    vector_bytes = {"avx512": 64, "avx2": 32}.get(isa, 16)
    lanes = vector_bytes // 4
    mr = 12 if isa == "avx512" else 6
    nr_f32, nr_f64 = 2 * lanes, lanes
    l1d = facts.l1d.value or DEFAULT_L1D
    l2 = facts.l2.value or DEFAULT_L2
    kc, mc_panels = _blocking(int(l1d), int(l2), mr, nr_f32 * 4)
    nc_panels = max(4, (int(l2) // 2) // (kc * nr_f32 * 4))
    # 2/3 of MR (8 rows on avx512, 4 on avx2): a layer's 8, 16, 32 or 64 output channels fill it exactly,
    # where 12-row tiles left a third of LeNet's 16 channels' tile rows empty (conv_wide.tile_rows)
    return KernelParams(isa=isa, vector_bytes=vector_bytes, mr=mr, short_mr=2 * mr // 3, nr_f32=nr_f32,
                        nr_f64=nr_f64, kc=kc,
                        mc_panels=mc_panels, nc_panels=nc_panels, inplace_a_max_panels=4,
                        gemm_serial_work=GEMM_SERIAL_WORK,
                        elementwise_serial_below=ELEMENTWISE_SERIAL_BELOW,
                        pooled_serial_below=POOLED_SERIAL_BELOW, gemm_pooled_serial_work=GEMM_POOLED_SERIAL_WORK,
                        gemm_wake_work=GEMM_WAKE_WORK,
                        gemm_self_pack_bytes=int(l2) // 16, rbm_parallel_work=RBM_PARALLEL_WORK,
                        source=source)


def choose(facts: CpuFacts, forced: str | None) -> KernelParams:
    """The table row for this CPU, or the forced one after checking the CPU can run it."""
    forced = (forced or "").strip().lower() or None
    if forced in (None, "auto"):
        return table_row(facts.isa, facts, f"detected: {facts.isa} ({facts.model_name})")
    if forced not in ISA_FLAGS:
        raise ValueError(f"{ISA_ENV}={forced!r}: expected one of {sorted(ISA_FLAGS)} or 'auto'")
    missing = ISA_FLAGS[forced] - facts.flags
    if missing:
        raise RuntimeError(f"{ISA_ENV}={forced} but this CPU ({facts.model_name}) lacks "
                           f"{', '.join(sorted(missing))} (flags from /proc/cpuinfo); unset {ISA_ENV} or use avx2")
    return table_row(forced, facts, f"forced by {ISA_ENV}={forced} ({facts.model_name} detects {facts.isa})")


PARAMS = choose(cpu_facts(), os.environ.get(ISA_ENV))


def numba_target(isa: str) -> tuple[str, str] | None:
    """(NUMBA_CPU_NAME, NUMBA_CPU_FEATURES) for a forced path, or None to keep numba's host target.

    avx2: LLVM's 'haswell' with its own features (AVX2, FMA, BMI2; no AVX-512), i.e. what an AVX2 machine
    compiles. avx512: the host CPU and features with LLVM's 'prefer-256-bit' tuning turned off, which Intel
    server targets set and which otherwise makes auto-vectorised loops use ymm on a zmm machine.
    """
    if isa == "avx2":
        return "haswell", ""
    if isa == "avx512":
        import llvmlite.binding as ll

        return ll.get_host_cpu_name(), ll.get_host_cpu_features().flatten() + ",-prefer-256-bit"
    return None


def configure_numba(params: KernelParams) -> None:
    """Point numba's code generator at the chosen path; it reads the target once, at its first compile."""
    target = numba_target(params.isa)
    if target is None:
        return
    import numba
    from numba.core.registry import cpu_target

    if "_toplevel_target_context" in cpu_target.__dict__:  # something in this process compiled already
        codegen = cpu_target.target_context.codegen()
        if codegen._get_host_cpu_name() != target[0]:
            raise RuntimeError(f"{params.source}: numba already compiled for "
                               f"{codegen._get_host_cpu_name()} in this process; import mark1 first, or set "
                               f"NUMBA_CPU_NAME={target[0]} yourself")
        return
    numba.config.CPU_NAME, numba.config.CPU_FEATURES = target


configure_numba(PARAMS)


def with_thresholds(**changes) -> KernelParams:
    """A copy of PARAMS with other thresholds (tests lower them to reach the threaded/packed paths)."""
    return replace(PARAMS, **changes)
