"""The cuda backend's op table: for each op of the contract (backends/base.py), pick a kernel and launch it.

Kernels live in mark1/kernels/cuda/; this file only shapes arguments (flat views, strides flags, scalars of
the array's dtype) and sizes grids (kernels/cuda/launch.py). Nothing here synchronises with the host:
numba kernels are queued on CuPy's current stream (as the RawKernel, CuPy's copies, its memory pool and
`.get()` are), on the arrays' device, and losses stay on the device until the caller reads them.
"""

from __future__ import annotations

import warnings

from mark1.backends.cuda_conv import conv_table
from mark1.backends.cuda_rbm import rbm_ops
from mark1.kernels.cuda import elementwise, image, losses, matmul_numba, optimizers, rows, stacked_sum
from mark1.kernels.cuda.launch import (
    COL_ROWS,
    COL_TILE,
    MAX_ROW_CHUNKS,
    ROW_THREADS,
    THREADS,
    blocks_for,
    split_k,
)

_ELEMENTWISE = (*elementwise.FORWARD, *elementwise.BACKWARD)
_FLOAT_NAMES = {"f": "float32", "d": "float64"}


def _dtype_name(dtype) -> str:
    """dtype.name without its cost: NumPy builds .name on every access (microseconds, per launch)."""
    return _FLOAT_NAMES.get(dtype.char) or dtype.name


def _transposed(x) -> bool:
    """A 2-D view whose dim 0, not dim 1, is the unit-stride one (e.g. `w.T`): tile loads then walk dim 0."""
    item = x.itemsize
    return x.strides[0] == item and x.strides[1] != item


def _configure(kernel, grid, block, stream, few_blocks: bool):
    """kernel[grid, block, stream]; few_blocks: the small grid is deliberate (a one-block final sum), so
    numba-cuda's low-occupancy NumbaPerformanceWarning, issued here at configuration, would only be noise."""
    launch = (lambda: kernel[grid, block]) if stream is None else (lambda: kernel[grid, block, stream])
    if not few_blocks:
        return launch()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Grid size .* low occupancy")
        return launch()


class SimulatorLauncher:
    """Launches in numba's simulator, on NumPy arrays wrapped in its device-array type.

    Handing the simulator a bare NumPy array makes it "transfer" it, which copies, and refuses strided views;
    wrapped, the kernel indexes the caller's strided view directly, as it would a CuPy view on a GPU.
    """

    def __init__(self, ndarray) -> None:
        from numba.cuda.simulator.cudadrv.devicearray import FakeCUDAArray

        self._ndarray, self._wrap = ndarray, FakeCUDAArray

    def __call__(self, kernel, grid, block, args, few_blocks: bool = False) -> None:
        args = tuple(self._wrap(x) if isinstance(x, self._ndarray) else x for x in args)
        _configure(kernel, grid, block, None, few_blocks)(*args)


class CupyLauncher:
    """Launches numba kernels on CuPy arrays: in the arrays' device's context, on CuPy's current stream.

    CuPy queues its copies, its RawKernels and `.get()` on its *current* stream and recycles pool memory in that
    stream's order; a numba kernel on numba's default stream would race them inside `with cupy.cuda.Stream():`.
    numba's wrapper of each CuPy stream is made once per (device, stream) and reused. numba's own current context
    is device 0 unless told otherwise, so every launch enters the context of the device the arrays live on.
    Arrays go through the CUDA Array Interface without its "stream" entry: with it numba would wrap that stream
    anew at every launch and, by default, block the host on it.
    """

    def __init__(self, cupy, cuda) -> None:
        self._cupy, self._cuda = cupy, cuda
        self._streams: dict[tuple[int, int], object] = {}

    def _wrap(self, x):
        desc = {key: value for key, value in x.__cuda_array_interface__.items() if key != "stream"}
        return self._cuda.from_cuda_array_interface(desc, owner=x, sync=False)

    def stream(self, device_id: int):
        """numba's handle on CuPy's current stream (call with device_id current in CuPy and numba)."""
        ptr = self._cupy.cuda.get_current_stream().ptr
        stream = self._streams.get((device_id, ptr))
        if stream is None:  # ptr 0 is the legacy default stream, numba's default_stream() too
            stream = self._cuda.external_stream(ptr) if ptr else self._cuda.default_stream()
            self._streams[device_id, ptr] = stream
        return stream

    def __call__(self, kernel, grid, block, args, few_blocks: bool = False) -> None:
        ndarray = self._cupy.ndarray
        device = next((x.device for x in args if isinstance(x, ndarray)), None)
        if device is None:
            device = self._cupy.cuda.Device()
        with device, self._cuda.gpus[device.id]:  # CuPy's current stream is then that device's
            args = tuple(self._wrap(x) if isinstance(x, ndarray) else x for x in args)
            _configure(kernel, grid, block, self.stream(device.id), few_blocks)(*args)


class CudaOps:
    """The kernels for one array module (cupy on a GPU, numpy in the simulator)."""

    def __init__(self, xp, raw_matmul: bool, simulator: bool = False, launcher=None):
        self.xp = xp
        self.raw_matmul = raw_matmul
        if launcher is None:
            if simulator:
                launcher = SimulatorLauncher(xp.ndarray)
            else:
                from numba import cuda

                launcher = CupyLauncher(xp, cuda)
        self._launcher = launcher

    def _launch(self, kernel, grid, block, *args, few_blocks: bool = False) -> None:
        self._launcher(kernel, grid, block, args, few_blocks)

    def table(self) -> dict:
        ops = {name: self._elementwise_op(name) for name in _ELEMENTWISE}
        for name in ("matmul", "softmax", "softmax_backward", "softmax_cross_entropy", "mse", "bce",
                     "bce_with_logits", "dense_forward", "dense_backward", "sgd", "adam", "image_diff"):
            ops[name] = getattr(self, name)
        ops.update(rbm_ops(self))  # energy-based models (issue 13)
        ops.update(conv_table(self))  # convolutional networks (issue 12)
        return ops

    # --- helpers -------------------------------------------------------------------------------------

    def _flat(self, x):
        """A 1-D C-contiguous view of x (a contiguous copy first if x is a strided view)."""
        if not x.flags.c_contiguous:
            x = self.xp.ascontiguousarray(x)
        return x.reshape(-1)

    def _gemm(self, a, b, out, bias=None, activation: str = "identity") -> None:
        """out = act(a @ b + bias); a plain product with too few output tiles is split along K (launch.split_k)."""
        (m, k), n = a.shape, b.shape[1]
        raw_kernel = self.raw_matmul and _dtype_name(out.dtype) == "float32"
        if raw_kernel:
            from mark1.kernels.cuda import raw

            grid, depth = (-(-n // raw.SGEMM_TILE), -(-m // raw.SGEMM_TILE)), raw.SGEMM_DEPTH
        else:
            tiling = matmul_numba.TILINGS[_dtype_name(out.dtype)]
            grid, depth = matmul_numba.tiles(m, n, tiling), tiling.bk
        epilogue = bias is not None or activation != "identity"
        splits, k_split = (1, k) if epilogue else split_k(grid[0] * grid[1], k, depth)
        target = out if splits == 1 else self.xp.empty((splits * m, n), dtype=out.dtype)
        if raw_kernel:
            raw.sgemm(a, b, target, bias, activation, splits, k_split)
        else:
            kernel = matmul_numba.kernel(_dtype_name(out.dtype), activation, bias is not None)
            # without a bias the kernel never reads that argument: target[0] fills the slot without allocating
            self._launch(kernel, (*grid, splits), tiling.threads, a, b,
                         target[0] if bias is None else self._flat(bias), target,
                         not _transposed(a), _transposed(b), k_split)
        if splits > 1:
            self._launch(stacked_sum.kernel(_dtype_name(out.dtype)), blocks_for(m * n), THREADS,
                         target.reshape(splits, m * n), out.reshape(-1))

    def _sum_to_scalar(self, parts, loss, scale: float) -> None:
        self._launch(rows.kernels(_dtype_name(loss.dtype))["sum_to_scalar"], 1, ROW_THREADS, parts, loss,
                     loss.dtype.type(scale), few_blocks=True)

    # --- ops -----------------------------------------------------------------------------------------

    def _elementwise_op(self, name: str):
        def op(*args):
            *inputs, out = args
            kernel = elementwise.kernels(_dtype_name(out.dtype))[name]
            flat_out = out.reshape(-1)
            self._launch(kernel, blocks_for(out.size), THREADS, *(self._flat(x) for x in inputs), flat_out)

        op.__name__ = name
        return op

    def matmul(self, a, b, out) -> None:
        self._gemm(a, b, out)

    def dense_forward(self, x, w, b, activation, out) -> None:
        self._gemm(x, w, out, bias=b, activation=activation)

    def dense_backward(self, x, w, y, dy, activation, dx, dw, db) -> None:
        m, n = y.shape
        dtype = y.dtype
        identity = activation == "identity"
        chunks = max(1, min(MAX_ROW_CHUNKS, -(-m // COL_ROWS)))
        parts = self.xp.empty((chunks, n), dtype=dtype)
        delta = parts if identity else self.xp.empty((m, n), dtype=dtype)  # identity: δ is dy, never written
        kernel = losses.delta_kernel(_dtype_name(dtype), activation)
        self._launch(kernel, (-(-n // COL_TILE), chunks), (COL_TILE, COL_ROWS), y, dy, delta, parts)
        self._launch(stacked_sum.kernel(_dtype_name(dtype)), blocks_for(n), THREADS, parts, db)
        if identity:
            delta = dy
        self._gemm(x.T, delta, dw)
        if dx is not None:
            self._gemm(delta, w.T, dx)

    def softmax(self, x, out) -> None:
        self._launch(rows.kernels(_dtype_name(out.dtype))["softmax"], x.shape[0], ROW_THREADS, x, out)

    def softmax_backward(self, y, dy, out) -> None:
        self._launch(rows.kernels(_dtype_name(out.dtype))["softmax_backward"], y.shape[0], ROW_THREADS, y, dy, out)

    def softmax_cross_entropy(self, logits, labels, grad, loss) -> None:
        m = logits.shape[0]
        row_loss = self.xp.empty((m,), dtype=logits.dtype)
        kernel = rows.kernels(_dtype_name(logits.dtype))["softmax_cross_entropy"]
        self._launch(kernel, m, ROW_THREADS, logits, self._flat(labels), grad, row_loss, logits.dtype.type(1.0 / m))
        self._sum_to_scalar(row_loss, loss, 1.0 / m)

    def _loss(self, name: str, pred, target, grad, loss, scale: float) -> None:
        m = pred.shape[0]
        blocks = blocks_for(pred.size)
        parts = self.xp.empty((blocks,), dtype=pred.dtype)
        kernel = losses.kernels(_dtype_name(pred.dtype))[name]
        self._launch(kernel, blocks, THREADS, self._flat(pred), self._flat(target), grad.reshape(-1), parts,
                     pred.dtype.type(1.0 / m))
        self._sum_to_scalar(parts, loss, scale / m)

    def mse(self, pred, target, grad, loss) -> None:
        self._loss("mse", pred, target, grad, loss, 0.5)

    def bce(self, prob, target, grad, loss) -> None:
        self._loss("bce", prob, target, grad, loss, 1.0)

    def bce_with_logits(self, logits, target, grad, loss) -> None:
        self._loss("bce_with_logits", logits, target, grad, loss, 1.0)

    def _in_place(self, name: str, param, arrays, scalars) -> None:
        """Run an update kernel on flat views; a non-contiguous state array is updated in a copy, then written back."""
        flat = [self._flat(x) for x in (param, *arrays)]
        kernel = optimizers.kernels(_dtype_name(param.dtype))[name]
        self._launch(kernel, blocks_for(param.size), THREADS, *flat, *(param.dtype.type(s) for s in scalars))
        for original, updated in zip((param, *arrays), flat, strict=True):
            if not original.flags.c_contiguous:
                original[...] = updated.reshape(original.shape)

    def sgd(self, param, grad, velocity, lr, momentum, weight_decay) -> None:
        self._in_place("sgd", param, (grad, velocity), (lr, momentum, weight_decay))

    def adam(self, param, grad, m, v, lr, beta1, beta2, eps, weight_decay, step) -> None:
        bias1, bias2 = 1.0 - beta1**step, 1.0 - beta2**step
        self._in_place("adam", param, (grad, m, v), (lr, beta1, beta2, eps, weight_decay, bias1, bias2))

    def image_diff(self, a, b, out) -> None:
        self._launch(image.kernel(), blocks_for(out.size), THREADS, a, b, out)
