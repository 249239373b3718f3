#!/usr/bin/env bash
# The one command for a GPU machine (H100/H200): CUDA tests, compute-sanitizer, benchmark, ncu profile.
#
#   bench/gpu_run.sh [OUTDIR] [STEP...]   STEP: tests bench sanitizer ncu more_tests (default: all, in this order)
#
# The whole run fits one 10-minute command: MARK1_GPU_BUDGET_S (default 570) is shared by the steps, most
# important first (correctness, then the figures, then sanitizers, ncu and the long test suites); a step gets
# at most its own cap and what is left of the budget, and a step cut short counts as failed.
#
# Runs from the source tree (PYTHONPATH=.; nothing is installed). Writes into OUTDIR (default bench/results):
#   <machine>.json       `mark1 bench --gpu`'s figures (schema mark1-bench/1), e.g. <cpu>-26c_nvidia-h100-80gb-hbm3.json
#   gpu_run.log          everything printed by every step;   ncu-<kernel>.txt   one ncu report per GEMM
# Every step runs even if an earlier one failed; the exit status is non-zero if any step failed.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT="${1:-bench/results}"
shift || true
STEPS=("$@")
[ ${#STEPS[@]} -eq 0 ] && STEPS=(tests bench sanitizer ncu more_tests)
BUDGET_END=$((SECONDS + ${MARK1_GPU_BUDGET_S:-570}))
mkdir -p "$OUT"
LOG="$OUT/gpu_run.log"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
PY="${PYTHON:-python3}"
FAILED=()

run() {  # run NAME CAP_S CMD...: log it, time it (at most CAP_S and the budget left), remember a failure
    local name=$1 limit=$2
    shift 2
    local left=$((BUDGET_END - SECONDS))
    [ "$left" -lt "$limit" ] && limit=$left
    if [ "$limit" -le 5 ]; then
        printf '\n=== %s: skipped, the time budget is spent\n' "$name" | tee -a "$LOG"
        FAILED+=("$name (no time left)")
        return
    fi
    printf '\n=== %s: %s\n' "$name" "$*" | tee -a "$LOG"
    local start=$SECONDS rc=0
    timeout "$limit" "$@" 2>&1 | tee -a "$LOG" || rc=${PIPESTATUS[0]}
    printf '=== %s: exit %s after %ss\n' "$name" "$rc" $((SECONDS - start)) | tee -a "$LOG"
    [ "$rc" -eq 0 ] || FAILED+=("$name")
}

step_tests() {
    run "gpu tests: every op on the GPU (both GEMMs) and the shared op suite on cuda" 200 \
        env MARK1_TEST_BACKENDS=cuda "$PY" -m pytest -q -p no:cacheprovider -ra -m "not slow" \
        tests/test_cuda_gpu.py tests/test_ops.py
}

step_more_tests() {
    run "gpu tests at big shapes (4097, 1031^3)" 120 \
        "$PY" -m pytest -q -p no:cacheprovider -ra -m slow tests/test_cuda_gpu.py
    run "nn suites on cuda, compile checks" 240 env MARK1_TEST_BACKENDS=cuda "$PY" -m pytest -q -p no:cacheprovider \
        -ra tests/test_nn_gradients.py tests/test_nn_training.py tests/test_nn_torch.py tests/test_cuda_compile.py
}

step_sanitizer() {
    if ! command -v compute-sanitizer > /dev/null; then
        echo "compute-sanitizer not found: sanitizer step skipped" | tee -a "$LOG"
        return
    fi
    # CuPy's memory pool hides out-of-bounds accesses inside its big blocks: MARK1_NO_CUPY_POOL=1 makes the
    # test module allocate every array separately so memcheck sees each one's bounds.
    run "compute-sanitizer memcheck" 150 env MARK1_NO_CUPY_POOL=1 compute-sanitizer --tool memcheck \
        --error-exitcode 1 "$PY" -m pytest -q -p no:cacheprovider -x -m "gpu and not slow" tests/test_cuda_gpu.py
    run "compute-sanitizer racecheck (shared-memory hazards in the GEMMs and row reductions)" 60 \
        compute-sanitizer --tool racecheck --error-exitcode 1 "$PY" -m pytest -q -p no:cacheprovider -x \
        tests/test_cuda_gpu.py -k "test_matmul and 127 or test_softmax_and_cross_entropy and 64 or dense_forward and 7-13-5"
    run "compute-sanitizer synccheck" 45 compute-sanitizer --tool synccheck --error-exitcode 1 \
        "$PY" -m pytest -q -p no:cacheprovider -x tests/test_cuda_gpu.py -k "test_matmul and 127 or softmax_and_cross"
}

step_bench() {
    run "benchmark: mark1 bench --gpu (CUDA events, medians, references in the same run)" 200 \
        "$PY" -m mark1 bench --gpu --no-progress --plain --out "$OUT"
}

step_ncu() {
    if ! command -v ncu > /dev/null; then
        echo "ncu not found: profile step skipped" | tee -a "$LOG"
        return
    fi
    local kernel
    for kernel in sgemm-raw sgemm-numba cublas; do
        run "ncu $kernel n=4096" 40 ncu --kernel-name regex:gemm --launch-skip 1 --launch-count 1 \
            --section SpeedOfLight --section Occupancy --section LaunchStats --section MemoryWorkloadAnalysis \
            --section ComputeWorkloadAnalysis --section WarpStateStats --log-file "$OUT/ncu-$kernel.txt" \
            "$PY" -m mark1.bench.gpu profile "$kernel" 4096
        grep -E "Duration|Registers Per Thread|Achieved Occupancy|Compute \(SM\) Throughput|Memory Throughput|Bank" \
            "$OUT/ncu-$kernel.txt" 2>/dev/null | tee -a "$LOG"
    done
}

if ! reason=$("$PY" -c "from mark1.backends.ops_cuda import gpu_unavailable_reason as r; print(r() or '')"); then
    echo "cannot import mark1 with $PY" >&2
    exit 2
fi
if [ -n "$reason" ]; then
    echo "no usable GPU here ($reason): nothing to run" | tee -a "$LOG" >&2
    exit 2
fi
{ nvidia-smi -L; "$PY" -c "import cupy, numba, sys; print(sys.version.split()[0], 'cupy', cupy.__version__, 'numba', numba.__version__)"; } 2>&1 | tee -a "$LOG"
for s in "${STEPS[@]}"; do
    "step_$s"
done
if [ ${#FAILED[@]} -gt 0 ]; then
    printf '\nFAILED steps: %s\n' "${FAILED[*]}" | tee -a "$LOG"
    exit 1
fi
printf '\nall steps passed\n' | tee -a "$LOG"
