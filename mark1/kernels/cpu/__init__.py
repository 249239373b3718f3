"""The numba CPU kernels: every op of the backend contract (backends/base.py) as hand-written @njit code.

gemm.py (+ packing.py, microkernel.py: the register tile as LLVM IR, params.py: the per-ISA table): packed,
register-tiled GEMM; dense.py: matmul and the fused dense layer; expmath.py: the vectorisable float32 exp and
activations; elementwise.py, rows.py, losses.py, optim.py, image.py: the rest. `OPS` maps op names to the
Python entry points that pick a kernel variant.
"""

from __future__ import annotations

from mark1.kernels.cpu import params  # noqa: F401  first: sets numba's target before anything compiles
from mark1.kernels.cpu.dense import dense_backward, dense_forward, matmul
from mark1.kernels.cpu.elementwise import relu, relu_backward, sigmoid, sigmoid_backward, tanh, tanh_backward
from mark1.kernels.cpu.image import image_diff
from mark1.kernels.cpu.losses import bce, bce_with_logits, mse
from mark1.kernels.cpu.optim import adam, sgd
from mark1.kernels.cpu.rows import softmax, softmax_backward, softmax_cross_entropy

OPS = {
    "matmul": matmul,
    "sigmoid": sigmoid, "tanh": tanh, "relu": relu,
    "sigmoid_backward": sigmoid_backward, "tanh_backward": tanh_backward, "relu_backward": relu_backward,
    "softmax": softmax, "softmax_backward": softmax_backward, "softmax_cross_entropy": softmax_cross_entropy,
    "mse": mse, "bce": bce, "bce_with_logits": bce_with_logits,
    "dense_forward": dense_forward, "dense_backward": dense_backward,
    "sgd": sgd, "adam": adam,
    "image_diff": image_diff,
}

# convolutional networks (issue 12): conv.py (implicit GEMM on the GEMM's micro-kernel), pool.py
from mark1.kernels.cpu.conv import conv2d_backward, conv2d_forward  # noqa: E402
from mark1.kernels.cpu.pool import (  # noqa: E402
    avgpool2d_backward,
    avgpool2d_forward,
    maxpool2d_backward,
    maxpool2d_forward,
)

OPS.update({
    "conv2d_forward": conv2d_forward, "conv2d_backward": conv2d_backward,
    "maxpool2d_forward": maxpool2d_forward, "maxpool2d_backward": maxpool2d_backward,
    "avgpool2d_forward": avgpool2d_forward, "avgpool2d_backward": avgpool2d_backward,
})
