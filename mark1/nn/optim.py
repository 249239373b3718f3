"""Optimizers: SGD (momentum, weight decay) and Adam, updating parameters in place with backend kernels.

Template method: Optimizer checks every gradient before touching any parameter (a bad one leaves all
weights unchanged) and keeps per-parameter state on the parameter's backend; a subclass updates one.
"""

from __future__ import annotations

from typing import Any

import mark1.layer_ops as layer_ops
from mark1.backends.registry import get_backend
from mark1.nn.parameter import Parameter


class Optimizer:
    state_names: tuple[str, ...] = ()

    def __init__(self, params, lr: float) -> None:
        self.params: list[Parameter] = list(params)
        if not self.params:
            raise ValueError(f"{type(self).__name__}: got an empty parameter list")
        for i, p in enumerate(self.params):
            if not isinstance(p, Parameter):
                raise TypeError(f"{type(self).__name__}: item {i} is a {type(p).__name__}, not a Parameter "
                                "(pass model.parameters())")
        _check_positive(type(self).__name__, lr=lr)
        self.lr = float(lr)
        self.steps = 0
        self.state: list[dict[str, Any]] = [
            {name: get_backend().zeros(p.shape, p.dtype) for name in self.state_names} for p in self.params
        ]

    def zero_grad(self) -> None:
        """Every parameter's .grad reads as zeros (a read-only zero array: Parameter.zero_grad says why)."""
        for p in self.params:
            p.zero_grad()

    def step(self) -> None:
        be = get_backend()
        for i, p in enumerate(self.params):  # validate all first: a bad gradient must not leave a half update
            if not be.owns(p.grad) or tuple(p.grad.shape) != p.shape or p.grad.dtype != p.dtype:
                raise ValueError(f"{type(self).__name__}.step: parameter {i} ({p!r}) has a gradient of "
                                 f"shape {tuple(p.grad.shape)} and dtype {p.grad.dtype} on "
                                 f"{type(p.grad).__module__}; expected {p.shape} {p.dtype} on {be.name!r}")
        self.steps += 1
        for p, state in zip(self.params, self.state, strict=True):
            self.update(p, state)

    def update(self, p: Parameter, state: dict[str, Any]) -> None:
        raise NotImplementedError

    def hyperparameters(self) -> dict[str, float]:
        return {"lr": self.lr}


def _check_positive(owner: str, **values: float) -> None:
    for name, value in values.items():
        if not (isinstance(value, int | float) and value > 0):
            raise ValueError(f"{owner}: {name} must be a positive number, got {value!r}")


def _check_fraction(owner: str, **values: float) -> None:
    for name, value in values.items():
        if not (isinstance(value, int | float) and 0 <= value < 1):
            raise ValueError(f"{owner}: {name} must be in [0, 1), got {value!r}")


class SGD(Optimizer):
    """p -= lr·v with v = momentum·v + (g + weight_decay·p): torch.optim.SGD with dampening 0."""

    state_names = ("velocity",)

    def __init__(self, params, lr: float, momentum: float = 0.0, weight_decay: float = 0.0) -> None:
        _check_fraction("SGD", momentum=momentum)
        if weight_decay < 0:
            raise ValueError(f"SGD: weight_decay must be >= 0, got {weight_decay!r}")
        super().__init__(params, lr)
        self.momentum, self.weight_decay = float(momentum), float(weight_decay)

    def update(self, p: Parameter, state: dict[str, Any]) -> None:
        layer_ops.sgd_update(p.data, p.grad, state["velocity"], self.lr, self.momentum, self.weight_decay)

    def hyperparameters(self) -> dict[str, float]:
        return {"lr": self.lr, "momentum": self.momentum, "weight_decay": self.weight_decay}


class Adam(Optimizer):
    """Adam (Kingma & Ba 2014) with bias correction and torch.optim.Adam's L2 weight decay."""

    state_names = ("m", "v")

    def __init__(self, params, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0) -> None:
        _check_fraction("Adam", beta1=betas[0], beta2=betas[1])
        _check_positive("Adam", eps=eps)
        if weight_decay < 0:
            raise ValueError(f"Adam: weight_decay must be >= 0, got {weight_decay!r}")
        super().__init__(params, lr)
        self.betas, self.eps, self.weight_decay = (float(betas[0]), float(betas[1])), float(eps), float(weight_decay)

    def update(self, p: Parameter, state: dict[str, Any]) -> None:
        layer_ops.adam_update(p.data, p.grad, state["m"], state["v"], self.steps, self.lr, self.betas[0],
                              self.betas[1], self.eps, self.weight_decay)

    def hyperparameters(self) -> dict[str, float]:
        return {"lr": self.lr, "beta1": self.betas[0], "beta2": self.betas[1], "eps": self.eps,
                "weight_decay": self.weight_decay}
