"""The NumPy reference kernels: every op of the backend contract (see backends/base.py) in plain NumPy.

This file is the oracle the other backends are tested against, so it favours the obvious formula over
speed; where the obvious formula overflows it uses the stable one and says why.
"""

from __future__ import annotations

import numpy as np

# torch's BCELoss clamps each log term at -100 and the gradient's denominator at 1e-12; we follow it so
# probabilities of exactly 0 or 1 give a finite loss and gradient, and torch parity holds.
BCE_LOG_FLOOR = -100.0
BCE_GRAD_EPS = 1e-12


def matmul(a, b, out):
    np.matmul(a, b, out=out)


def sigmoid(x, out):
    """Two-branch stable sigmoid: 1/(1+e^-x) for x >= 0, e^x/(1+e^x) for x < 0.

    Both branches only ever exponentiate -|x| <= 0, so nothing overflows: sigmoid(±1000) is exactly 1/0
    with no warning, and NaN propagates (NaN >= 0 is False, e^NaN is NaN).
    """
    e = np.exp(-np.abs(x))
    np.divide(np.where(x >= 0, 1, e), 1 + e, out=out)


def tanh(x, out):
    np.tanh(x, out=out)


def relu(x, out):
    np.maximum(x, 0, out=out)  # maximum (not where) so NaN propagates


def sigmoid_backward(y, dy, out):
    np.multiply(dy, y * (1 - y), out=out)


def tanh_backward(y, dy, out):
    np.multiply(dy, 1 - y * y, out=out)


def relu_backward(y, dy, out):
    np.multiply(dy, y > 0, out=out)


def softmax(x, out):
    """Row-wise softmax; subtracting the row max first keeps exp() from overflowing."""
    z = x - x.max(axis=1, keepdims=True)
    e = np.exp(z)
    np.divide(e, e.sum(axis=1, keepdims=True), out=out)


def softmax_backward(y, dy, out):
    np.multiply(y, dy - (dy * y).sum(axis=1, keepdims=True), out=out)


def softmax_cross_entropy(logits, labels, grad, loss):
    """J = 1/m Σ_i (logsumexp(z_i) - z_i[label_i]); dJ/dz = (softmax(z) - onehot) / m.

    A label outside [0, classes) (only possible with check_labels=False) makes its row's loss and gradient NaN,
    as on every backend: NumPy would wrap a negative label around to the last class, a GPU read outside the row.
    """
    m, classes = logits.shape
    valid = (labels >= 0) & (labels < classes)
    rows, cols = np.arange(m)[valid], labels[valid]
    z = logits - logits.max(axis=1, keepdims=True)
    lse = np.log(np.exp(z).sum(axis=1))
    row_loss = np.full(m, np.nan)
    row_loss[valid] = lse[valid] - z[rows, cols]
    loss[0] = row_loss.sum() / m
    np.exp(z - lse[:, None], out=grad)
    grad[rows, cols] -= 1
    grad[~valid] = np.nan
    grad /= m


def mse(pred, target, grad, loss):
    """J = 1/(2m) Σ (h - y)^2 (the lecture's cost), m = batch size; dJ/dh = (h - y) / m."""
    m = pred.shape[0]
    d = pred - target
    loss[0] = (d * d).sum() / (2 * m)
    np.divide(d, m, out=grad)


def bce(prob, target, grad, loss):
    """J = -1/m Σ [y log p + (1-y) log(1-p)] on probabilities, with torch's clamps (finite at p = 0, 1)."""
    m = prob.shape[0]
    p = np.clip(prob, 0, 1)
    with np.errstate(divide="ignore"):  # log(0) = -inf is clamped on the next line
        log_p = np.maximum(np.log(p), BCE_LOG_FLOOR)
        log_q = np.maximum(np.log(1 - p), BCE_LOG_FLOOR)
    loss[0] = -(target * log_p + (1 - target) * log_q).sum() / m
    np.divide(p - target, np.maximum(p * (1 - p), BCE_GRAD_EPS) * m, out=grad)


def bce_with_logits(logits, target, grad, loss):
    """BCE on logits z: max(z, 0) - z y + log(1 + e^-|z|), which never overflows; grad (σ(z) - y) / m."""
    m = logits.shape[0]
    z = logits
    loss[0] = (np.maximum(z, 0) - z * target + np.log1p(np.exp(-np.abs(z)))).sum() / m
    sigmoid(z, grad)
    grad -= target
    grad /= m


_FORWARD = {"sigmoid": sigmoid, "tanh": tanh, "relu": relu}
_BACKWARD = {"sigmoid": sigmoid_backward, "tanh": tanh_backward, "relu": relu_backward}


def dense_forward(x, w, b, activation, out):
    np.matmul(x, w, out=out)
    out += b
    if activation != "identity":
        _FORWARD[activation](out, out)


def dense_backward(x, w, y, dy, activation, dx, dw, db):
    delta = dy
    if activation != "identity":
        delta = np.empty_like(dy)
        _BACKWARD[activation](y, dy, delta)
    np.matmul(x.T, delta, out=dw)
    delta.sum(axis=0, out=db)
    if dx is not None:
        np.matmul(delta, w.T, out=dx)


def sgd(param, grad, velocity, lr, momentum, weight_decay):
    """p -= lr * v with v = momentum * v + (g + weight_decay * p): torch.optim.SGD, dampening 0."""
    g = grad + weight_decay * param if weight_decay else grad
    if momentum:
        velocity *= momentum
        velocity += g
        g = velocity
    param -= lr * g


def adam(param, grad, m, v, lr, beta1, beta2, eps, weight_decay, step):
    """Adam (Kingma & Ba 2014, Algorithm 1) with L2 weight decay added to g, as torch.optim.Adam."""
    g = grad + weight_decay * param if weight_decay else grad
    m *= beta1
    m += (1 - beta1) * g
    v *= beta2
    v += (1 - beta2) * g * g
    m_hat = m / (1 - beta1**step)
    v_hat = v / (1 - beta2**step)
    param -= lr * m_hat / (np.sqrt(v_hat) + eps)


def image_diff(a, b, out):
    """Largest per-channel absolute difference of two uint8 images, as float32 (widened first: no wrap)."""
    out[...] = np.abs(a.astype(np.int16) - b.astype(np.int16)).max(axis=2)


OPS = {
    name: globals()[name]
    for name in (
        "matmul", "sigmoid", "tanh", "relu", "sigmoid_backward", "tanh_backward", "relu_backward",
        "softmax", "softmax_backward", "softmax_cross_entropy", "mse", "bce", "bce_with_logits",
        "dense_forward", "dense_backward", "sgd", "adam", "image_diff",
    )
}

from mark1.kernels.reference_conv import OPS as _CONV_OPS  # noqa: E402  (convolutional networks, issue 12)

OPS.update(_CONV_OPS)
