"""The cuda backend's convolution and pooling ops (the contract's issue-12 block): shape arguments, launch.

Kept apart from cuda_launch.py so that file's table only gains one line. δ = dy·act'(y) reuses the
elementwise backward kernels on flat views; everything else is kernels/cuda/conv.py.
"""

from __future__ import annotations

from mark1.kernels.cuda import conv, elementwise
from mark1.kernels.cuda.launch import THREADS, blocks_for


def conv_table(cuda_ops) -> dict:
    """{op name: function} for one CudaOps (its _launch wraps arrays for the device or the simulator)."""
    launch, xp = cuda_ops._launch, cuda_ops.xp

    def kernel(dtype, name):
        return conv.kernels(dtype.name)[name]

    def conv2d_forward(x, w, b, stride, padding, activation, out):
        launch(kernel(out.dtype, f"conv_forward_{activation}"), blocks_for(out.size), THREADS, x, w, b, out,
               *stride, *padding)

    def conv2d_backward(x, w, y, dy, stride, padding, activation, dx, dw, db):
        delta = dy
        if activation != "identity":
            delta = xp.empty(dy.shape, dtype=dy.dtype)
            flat = [cuda_ops._flat(a) for a in (y, dy)]
            launch(elementwise.kernels(dy.dtype.name)[f"{activation}_backward"], blocks_for(dy.size), THREADS,
                   *flat, delta.reshape(-1))
        launch(kernel(dw.dtype, "conv_dw"), blocks_for(dw.size), THREADS, x, delta, dw, *stride, *padding)
        launch(kernel(db.dtype, "conv_db"), blocks_for(db.size), THREADS, delta, db)
        if dx is not None:
            launch(kernel(dx.dtype, "conv_dx"), blocks_for(dx.size), THREADS, delta, w, dx, *stride, *padding)

    def maxpool2d_forward(x, kernel_size, stride, out, argmax):
        launch(kernel(out.dtype, "maxpool_forward"), blocks_for(out.size), THREADS, x, *kernel_size, *stride, out,
               argmax)

    def maxpool2d_backward(dy, argmax, dx):
        planes = dx.shape[0] * dx.shape[1]
        launch(kernel(dx.dtype, "maxpool_backward"), blocks_for(planes), THREADS, dy, argmax, dx)

    def avgpool2d_forward(x, kernel_size, stride, out):
        launch(kernel(out.dtype, "avgpool_forward"), blocks_for(out.size), THREADS, x, *kernel_size, *stride, out)

    def avgpool2d_backward(dy, kernel_size, stride, dx):
        launch(kernel(dx.dtype, "avgpool_backward"), blocks_for(dx.size), THREADS, dy, *kernel_size, *stride, dx)

    return {f.__name__: f for f in (conv2d_forward, conv2d_backward, maxpool2d_forward, maxpool2d_backward,
                                    avgpool2d_forward, avgpool2d_backward)}
