"""CUDA kernels: numba.cuda kernels (Python, built per dtype) and CuPy RawKernel sources (`*.cu`).

Kernels compute into arrays they are given and know nothing about backends; `backends/cuda_launch.py`
picks one, sizes its launch (`launch.py`) and calls it. Every numba.cuda module here exposes `build(dtype)`
(plain Python kernel functions, so `numba.cuda.compile_ptx` can compile them without a GPU) and
`kernels(dtype_name)` (the same functions wrapped in `cuda.jit`, compiled lazily on first launch and
cached by numba per device). Under NUMBA_ENABLE_CUDASIM=1 the same kernels run in the simulator.

    activations.py   act(x) and dy·act'(y) device functions per dtype (stable two-branch sigmoid)
    elementwise.py   sigmoid / tanh / relu forward and backward, grid-stride over flat arrays
    matmul_numba.py  register-tiled GEMM with a bias + activation epilogue and split-K
    stacked_sum.py   in-order sum of stacked partials: split-K's slices, the dense backward's db chunks
    rows.py          one block per row: softmax, softmax backward, softmax + cross-entropy, sum_to_scalar
    losses.py        MSE / BCE / BCE-with-logits (per-block partial sums) and the dense layer's δ + column sums
    optimizers.py    SGD (momentum, weight decay) and Adam, in place
    image.py         image_diff (uint8 images -> float32 max channel difference)
    sgemm.cu, raw.py the CuPy RawModule float32 GEMM (float4 loads, double buffering, epilogue, split-K)
    launch.py        block sizes, grid caps and the split-K rule (smaller in the simulator)
"""
