"""CUDA kernels: numba.cuda kernels (Python, built per dtype) and CuPy RawKernel sources (`*.cu`).

Kernels compute into arrays they are given and know nothing about backends; `backends/ops_cuda.py`
picks one, sizes its launch (`launch.py`) and calls it. Every numba.cuda module here exposes `build(dtype)`
(plain Python kernel functions, so `numba.cuda.compile_ptx` can compile them without a GPU) and
`kernels(dtype_name)` (the same functions wrapped in `cuda.jit`, compiled lazily on first launch and
cached by numba per device). Under NUMBA_ENABLE_CUDASIM=1 the same kernels run in the simulator.
"""
