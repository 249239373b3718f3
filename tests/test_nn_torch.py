"""Parity with torch autograd on a random 3-layer MLP: same weights and batch give the same loss, gradients,
and parameters after one SGD and one Adam step (float64, to 1e-5)."""

from __future__ import annotations

import numpy as np
import pytest

import mark1 as m1
from mark1 import nn

torch = pytest.importorskip("torch")

TOL = dict(rtol=1e-5, atol=1e-7)
SIZES = (6, 9, 7, 4)  # in, hidden, hidden, out
BATCH = 11


def _models(activation: str):
    rng = np.random.default_rng(7)
    act = {"sigmoid": (nn.Sigmoid, torch.nn.Sigmoid), "tanh": (nn.Tanh, torch.nn.Tanh),
           "relu": (nn.ReLU, torch.nn.ReLU)}[activation]
    ours, theirs = [], []
    for i, (fan_in, fan_out) in enumerate(zip(SIZES, SIZES[1:], strict=False)):
        dense = nn.Dense(fan_in, fan_out, init="xavier", rng=rng, dtype="float64")  # not redrawn by Sequential
        dense.bias.data = m1.asarray(rng.standard_normal(fan_out) * 0.1, dtype="float64")
        linear = torch.nn.Linear(fan_in, fan_out, dtype=torch.float64)
        with torch.no_grad():
            linear.weight.copy_(torch.from_numpy(m1.to_numpy(dense.weight.data).T.copy()))
            linear.bias.copy_(torch.from_numpy(m1.to_numpy(dense.bias.data).copy()))
        ours.append(dense)
        theirs.append(linear)
        if i < len(SIZES) - 2:
            ours.append(act[0]())
            theirs.append(act[1]())
    return nn.Sequential(*ours), torch.nn.Sequential(*theirs)


def _batch():
    rng = np.random.default_rng(8)
    return rng.standard_normal((BATCH, SIZES[0])), rng.integers(0, SIZES[-1], BATCH)


def _torch_grads(theirs):
    grads = []
    for layer in theirs:
        if isinstance(layer, torch.nn.Linear):
            grads += [layer.weight.grad.numpy().T, layer.bias.grad.numpy()]
    return grads


def _torch_params(theirs):
    params = []
    for layer in theirs:
        if isinstance(layer, torch.nn.Linear):
            params += [layer.weight.detach().numpy().T, layer.bias.detach().numpy()]
    return params


def _forward_backward(ours, theirs, x, labels):
    loss = nn.CrossEntropyLoss()
    value = loss(ours(m1.asarray(x, dtype="float64")), labels)
    ours.backward(loss.backward())
    theirs.zero_grad()
    t_value = torch.nn.functional.cross_entropy(theirs(torch.from_numpy(x)), torch.from_numpy(labels))
    t_value.backward()
    return float(value), t_value.item()


@pytest.mark.parametrize("activation", ["sigmoid", "tanh", "relu"])
def test_loss_and_gradients_match_torch(backend, activation):
    ours, theirs = _models(activation)
    x, labels = _batch()
    value, t_value = _forward_backward(ours, theirs, x, labels)
    np.testing.assert_allclose(value, t_value, **TOL)
    for p, expected in zip(ours.parameters(), _torch_grads(theirs), strict=True):
        np.testing.assert_allclose(m1.to_numpy(p.grad), expected, **TOL)


@pytest.mark.parametrize("optimizer", ["sgd", "sgd_momentum_decay", "adam", "adam_decay"])
def test_optimizer_steps_match_torch(backend, optimizer):
    ours, theirs = _models("sigmoid")
    x, labels = _batch()
    make = {
        "sgd": (lambda p: nn.SGD(p, lr=0.5), lambda p: torch.optim.SGD(p, lr=0.5)),
        "sgd_momentum_decay": (lambda p: nn.SGD(p, lr=0.1, momentum=0.9, weight_decay=0.01),
                               lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9, weight_decay=0.01)),
        "adam": (lambda p: nn.Adam(p, lr=0.01), lambda p: torch.optim.Adam(p, lr=0.01)),
        "adam_decay": (lambda p: nn.Adam(p, lr=0.01, weight_decay=0.01),
                       lambda p: torch.optim.Adam(p, lr=0.01, weight_decay=0.01)),
    }[optimizer]
    opt, t_opt = make[0](ours.parameters()), make[1](theirs.parameters())
    for _ in range(3):  # several steps, so momentum and Adam's moments matter
        _forward_backward(ours, theirs, x, labels)
        opt.step()
        t_opt.step()
    for p, expected in zip(ours.parameters(), _torch_params(theirs), strict=True):
        np.testing.assert_allclose(m1.to_numpy(p.data), expected, **TOL)
