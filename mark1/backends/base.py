"""What every backend provides: the `Backend` record and the op contract (names and signatures).

Every op is a plain function that computes into output arrays it is given; `mark1.ops` has already
checked shapes, dtypes and ownership, allocated the outputs (C-contiguous), and turned an empty case
into a no-op where that is well defined. Inputs may be non-contiguous or transposed views.

    matmul(a, b, out)                          a (M, K), b (K, N) -> out (M, N)
    sigmoid(x, out) / tanh(x, out) / relu(x, out)            any shape, out same shape
    sigmoid_backward(y, dy, out) ... relu_backward           from the saved forward output y
    softmax(x, out)                            x (rows, classes), softmax over axis 1
    softmax_backward(y, dy, out)               out = y * (dy - sum(dy * y, axis=1))
    softmax_cross_entropy(logits, labels, grad, loss)  labels int64 (m,); loss is a (1,) array
    mse(pred, target, grad, loss)              J = sum((p - t)^2) / (2m), grad = (p - t) / m
    bce(prob, target, grad, loss)              torch's BCELoss formulas (log clamped at -100)
    bce_with_logits(logits, target, grad, loss)
    dense_forward(x, w, b, activation, out)    out = act(x @ w + b); activation in ACTIVATIONS
    dense_backward(x, w, y, dy, activation, dx, dw, db)   delta = dy * act'(y);
                                               dw = x.T @ delta, db = delta.sum(0), dx = delta @ w.T
                                               (dx is None for a first layer: skipped)
    sgd(param, grad, velocity, lr, momentum, weight_decay)            in place
    adam(param, grad, m, v, lr, beta1, beta2, eps, weight_decay, step)  in place, step >= 1
    image_diff(a, b, out)                      a, b uint8 (H, W, C) -> out float32 (H, W):
                                               max over channels of |a - b| (the diff finder's kernel)

    energy-based models (kernels/reference_rbm.py; draws are Philox4x32-10 of (seed, step, flat index)):
    philox_uniform(seed, step, out)            out (any shape, C) = uniforms in [0, 1), bit-identical everywhere
    bernoulli(prob, seed, step, sample)        sample = 1 where uniform < prob else 0 (same shape)
    sigmoid_bernoulli(x, w, bias, seed, step, prob, sample)   prob = σ(x @ w + bias) and its sample
    cd_update(w, vbias, hbias, v0, h0, vk, hk, dw, dvb, dhb, lr, momentum, weight_decay)  in place:
                                               Δ = momentum·Δ + lr·((v0ᵀh0 - vkᵀhk)/m - wd·W); W += Δ (biases alike)
    free_energy(v, w, vbias, hbias, out)       out (m,) = -v·b - Σ softplus(vW + c)
    pseudo_likelihood(v, w, vbias, hbias, out) out (m,) = Σ_i log σ(F(v flipped at i) - F(v))
    rbm_epoch(x, order, w, vbias, hbias, dw, dvb, dhb, chain, seed, first_update, batch_size, k, persistent,
              lr, momentum, weight_decay)      every CD-k/PCD-k update of one epoch over x[order], in place
Convolutional networks (NCHW, torch's layout; stride = (sh, sw), padding = (top, left): the bottom/right
padding is implied by the output's shape, so "same" with an even kernel pads one more row after):
    conv2d_forward(x, w, b, stride, padding, activation, out)
                                               x (N, C, H, W), w (O, C, kh, kw), b (O,) -> out (N, O, OH, OW)
                                               out = act(cross-correlation of zero-padded x with w + b)
    conv2d_backward(x, w, y, dy, stride, padding, activation, dx, dw, db)
                                               delta = dy * act'(y); dw, db, and dx (None: skipped)
    maxpool2d_forward(x, kernel, stride, out, argmax)   argmax int64, flat index h * W + w of each max
                                               in its (H, W) plane; ties and NaN as torch (first max / NaN)
    maxpool2d_backward(dy, argmax, dx)         dx = 0, then dx[argmax] += dy (overlapping windows add)
    avgpool2d_forward(x, kernel, stride, out) / avgpool2d_backward(dy, kernel, stride, dx)

m is always the batch size, `pred.shape[0]`; losses write the scalar into `loss[0]`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

ACTIVATIONS = ("identity", "sigmoid", "tanh", "relu")

OP_NAMES = (
    "matmul",
    "sigmoid", "tanh", "relu",
    "sigmoid_backward", "tanh_backward", "relu_backward",
    "softmax", "softmax_backward", "softmax_cross_entropy",
    "mse", "bce", "bce_with_logits",
    "dense_forward", "dense_backward",
    "sgd", "adam",
    "image_diff",
    # energy-based models (issue 13): Philox draws, RBM sampling, CD update, free energy, pseudo-likelihood
    "philox_uniform", "bernoulli", "sigmoid_bernoulli", "cd_update", "free_energy", "pseudo_likelihood",
    "rbm_epoch",
    # convolutional networks (issue 12)
    "conv2d_forward", "conv2d_backward",
    "maxpool2d_forward", "maxpool2d_backward", "avgpool2d_forward", "avgpool2d_backward",
)


@dataclass(frozen=True)
class Backend:
    """One usable backend: its array module, where its arrays live, and its op table."""

    name: str
    xp: ModuleType                      # numpy or cupy: the array module of this backend's arrays
    device: str                         # human-readable, e.g. "cpu (2 threads)" or "cuda:0 NVIDIA H100"
    array_types: tuple[type, ...]       # arrays this backend owns; anything else is refused by the ops
    ops: Mapping[str, Callable[..., Any]]
    asarray: Callable[..., Any]         # (x, dtype) -> array on this backend
    to_numpy: Callable[[Any], Any]
    synchronize: Callable[[], None] = lambda: None
    ndimage_module: str = "scipy.ndimage"   # labelling/filters for vision; cupyx.scipy.ndimage on the GPU
    options: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        missing = [op for op in OP_NAMES if op not in self.ops]
        if missing:
            raise RuntimeError(f"backend {self.name!r} is missing ops: {', '.join(missing)}")

    def owns(self, x: Any) -> bool:
        return isinstance(x, self.array_types)

    def empty(self, shape: tuple[int, ...], dtype: Any) -> Any:
        return self.xp.empty(shape, dtype=dtype)

    def zeros(self, shape: tuple[int, ...], dtype: Any) -> Any:
        return self.xp.zeros(shape, dtype=dtype)

    def __repr__(self) -> str:
        opts = "".join(f", {k}={v!r}" for k, v in self.options.items())
        return f"<mark1 backend {self.name!r} on {self.device}{opts}>"
