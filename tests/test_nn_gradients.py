"""Finite-difference gradient checks (float64, central differences, eps 1e-6, rtol 1e-4) for every layer and loss.

Runs on every backend; sizes are tiny and only a few entries per parameter are perturbed, so the CUDA
simulator step can afford it.
"""

from __future__ import annotations

import numpy as np
import pytest

import mark1 as m1
from mark1 import nn

EPS = 1e-6
RTOL = 1e-4
ATOL = 1e-8
ENTRIES_PER_PARAMETER = 6


def _numeric(loss_of, set_value, host: np.ndarray, entries) -> np.ndarray:
    grads = []
    for index in entries:
        values = []
        for sign in (1, -1):
            bumped = host.copy()
            bumped[index] += sign * EPS
            set_value(bumped)
            values.append(loss_of())
        set_value(host)
        grads.append((values[0] - values[1]) / (2 * EPS))
    return np.array(grads)


def _entries(rng, shape):
    flat = rng.choice(int(np.prod(shape)), size=min(ENTRIES_PER_PARAMETER, int(np.prod(shape))), replace=False)
    return [np.unravel_index(i, shape) for i in flat]


def check_model(model, loss, x_host, target, rng, check_input=True):
    x = m1.asarray(x_host, dtype="float64")

    def loss_of():
        return float(loss(model(x), target))

    loss_of()
    dx = model.backward(loss.backward(), need_input_grad=True)
    dx = m1.to_numpy(dx).copy()
    analytic = {name: m1.to_numpy(p.grad).copy() for name, p in model.named_parameters()}
    for name, p in model.named_parameters():
        host = m1.to_numpy(p.data).copy()
        entries = _entries(rng, host.shape)

        def set_value(v, p=p):
            p.data = m1.asarray(v, dtype="float64")

        numeric = _numeric(loss_of, set_value, host, entries)
        got = np.array([analytic[name][i] for i in entries])
        np.testing.assert_allclose(got, numeric, rtol=RTOL, atol=ATOL, err_msg=f"gradient of {name}")
    if check_input:
        entries = _entries(rng, x_host.shape)

        def set_x(v):
            nonlocal x
            x = m1.asarray(v, dtype="float64")

        numeric = _numeric(loss_of, set_x, x_host.astype(np.float64), entries)
        np.testing.assert_allclose([dx[i] for i in entries], numeric, rtol=RTOL, atol=ATOL, err_msg="input gradient")


def _dense(i, o, rng):
    return nn.Dense(i, o, rng=rng, dtype="float64")


@pytest.mark.parametrize("activation", [None, nn.Sigmoid, nn.Tanh, nn.ReLU])
def test_dense_and_fused_activation(backend, activation):
    rng = np.random.default_rng(1)
    layers = [_dense(5, 7, rng)] + ([activation()] if activation else []) + [_dense(7, 3, rng)]
    model = nn.Sequential(*layers)
    check_model(model, nn.MSELoss(), rng.standard_normal((4, 5)), rng.standard_normal((4, 3)), rng)


@pytest.mark.parametrize("activation", [nn.Sigmoid, nn.Tanh, nn.ReLU, nn.Softmax])
def test_standalone_activation_layers(backend, activation):
    # an activation first (nothing to fuse with) and a Softmax between Dense layers run unfused
    rng = np.random.default_rng(2)
    model = nn.Sequential(activation(), _dense(4, 6, rng), nn.Softmax(), _dense(6, 2, rng))
    check_model(model, nn.MSELoss(), rng.standard_normal((3, 4)), rng.standard_normal((3, 2)), rng)


def test_dense_on_3d_input(backend):
    rng = np.random.default_rng(3)
    model = nn.Sequential(_dense(4, 3, rng), nn.Tanh(), _dense(3, 2, rng))
    check_model(model, nn.MSELoss(), rng.standard_normal((2, 3, 4)), rng.standard_normal((2, 3, 2)), rng)


LOSSES = {
    "mse": (nn.MSELoss, lambda rng, m: rng.standard_normal((m, 3)), None),
    "bce": (nn.BCELoss, lambda rng, m: rng.uniform(0.05, 0.95, (m, 3)), nn.Sigmoid),
    "bce_with_logits": (nn.BCEWithLogitsLoss, lambda rng, m: rng.uniform(0, 1, (m, 3)), None),
    "cross_entropy": (nn.CrossEntropyLoss, lambda rng, m: rng.integers(0, 3, m), None),
}


@pytest.mark.parametrize("name", LOSSES)
def test_losses(backend, name):
    loss_type, make_target, last = LOSSES[name]
    rng = np.random.default_rng(4)
    layers = [_dense(4, 5, rng), nn.Tanh(), _dense(5, 3, rng)] + ([last()] if last else [])
    check_model(nn.Sequential(*layers), loss_type(), rng.standard_normal((6, 4)), make_target(rng, 6), rng)


@pytest.mark.parametrize("name", LOSSES)
def test_loss_gradient_wrt_prediction(backend, name):
    loss_type, make_target, _ = LOSSES[name]
    rng = np.random.default_rng(5)
    pred_host = rng.uniform(0.1, 0.9, (5, 3)) if name == "bce" else rng.standard_normal((5, 3))
    target, loss = make_target(rng, 5), loss_type()
    pred = m1.asarray(pred_host, dtype="float64")
    loss(pred, target)
    analytic = m1.to_numpy(loss.backward()).copy()

    def set_pred(v):
        nonlocal pred
        pred = m1.asarray(v, dtype="float64")

    entries = list(np.ndindex(pred_host.shape))  # every entry: a loss gradient is cheap to check in full
    numeric = _numeric(lambda: float(loss(pred, target)), set_pred, pred_host, entries).reshape(pred_host.shape)
    np.testing.assert_allclose(analytic, numeric, rtol=RTOL, atol=ATOL)
