"""mark1: hand-written array kernels for neural networks behind one backend switch (NumPy, Numba, CUDA).

    import mark1 as m1
    m1.use("numba")                       # or "numpy", "cuda", "auto"
    c = m1.matmul(m1.asarray(a), m1.asarray(b))
"""

from mark1 import nn
from mark1.backends import available_backends, backend, get_backend, use
from mark1.conv_ops import (
    avgpool2d_backward,
    avgpool2d_forward,
    conv2d_backward,
    conv2d_forward,
    maxpool2d_backward,
    maxpool2d_forward,
)
from mark1.errors import BackendUnavailable
from mark1.layer_ops import (
    adam_update,
    bce,
    bce_with_logits,
    dense_backward,
    dense_forward,
    mse,
    sgd_update,
    softmax_cross_entropy,
)
from mark1.ops import (
    asarray,
    image_diff,
    matmul,
    relu,
    relu_backward,
    sigmoid,
    sigmoid_backward,
    softmax,
    softmax_backward,
    tanh,
    tanh_backward,
    to_numpy,
)
from mark1.rng import seed
from mark1.threads import get_num_threads, set_num_threads

__version__ = "0.1.0"

__all__ = [
    "BackendUnavailable", "__version__", "nn", "adam_update", "asarray", "available_backends", "backend",
    "bce", "bce_with_logits", "dense_backward", "dense_forward", "get_backend", "get_num_threads", "image_diff",
    "matmul", "mse", "relu", "relu_backward", "seed", "set_num_threads", "sgd_update", "sigmoid",
    "sigmoid_backward", "softmax", "softmax_backward", "softmax_cross_entropy", "tanh", "tanh_backward",
    "to_numpy", "use",
    # convolutional networks
    "avgpool2d_backward", "avgpool2d_forward", "conv2d_backward", "conv2d_forward", "maxpool2d_backward",
    "maxpool2d_forward",
]
