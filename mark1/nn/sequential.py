"""Sequential: layers run in order; a Dense or Conv2d followed by Sigmoid/Tanh/ReLU runs as one fused kernel."""

from __future__ import annotations

from typing import Any

from mark1.nn.activations import FUSABLE
from mark1.nn.conv import Conv2d
from mark1.nn.dense import Dense
from mark1.nn.module import Array, Module
from mark1.nn.parameter import Parameter

FUSING = (Dense, Conv2d)  # layers whose kernels apply the activation that follows them (forward and backward)


class Sequential(Module):
    """model = Sequential(Dense(2, 8), Sigmoid(), Dense(8, 1), Sigmoid()); y = model(x); model.backward(g).

    Training helpers: fit, predict, evaluate (mark1/nn/training.py); save, load (mark1/checkpoint.py).
    """

    def __init__(self, *layers: Module) -> None:
        if not layers:
            raise ValueError("Sequential needs at least one layer")
        for i, layer in enumerate(layers):
            if not isinstance(layer, Module):
                raise TypeError(f"Sequential: layer {i} is a {type(layer).__name__}, not an nn layer")
        self.layers = list(layers)
        self._steps = self._plan()
        for dense, act in self._steps:
            if isinstance(dense, FUSING) and dense.init is None and act is not None and act.name == "relu":
                dense.reset_parameters("he")
        self._check_widths()

    def _plan(self) -> list[tuple[Module, Any]]:
        """Pair each Dense with the activation right after it (fused), everything else runs alone."""
        steps, i = [], 0
        while i < len(self.layers):
            layer = self.layers[i]
            following = self.layers[i + 1] if i + 1 < len(self.layers) else None
            if isinstance(layer, FUSING) and isinstance(following, FUSABLE):
                steps.append((layer, following))
                i += 2
            else:
                steps.append((layer, None))
                i += 1
        return steps

    def _check_widths(self) -> None:
        dense = [layer for layer in self.layers if isinstance(layer, Dense)]
        for before, after in zip(dense, dense[1:], strict=False):
            if before.out_features != after.in_features:
                raise ValueError(f"Sequential: {before!r} outputs {before.out_features} features but the next "
                                 f"{after!r} expects {after.in_features}")

    def parameters(self) -> list[Parameter]:
        return [p for layer in self.layers for p in layer.parameters()]

    def named_parameters(self) -> list[tuple[str, Parameter]]:
        """("0.weight", p), ("0.bias", p), ... named by layer index: the keys of a checkpoint."""
        return [(f"{i}.{p.name}", p) for i, layer in enumerate(self.layers) for p in layer.parameters()]

    @property
    def dtype(self):
        params = self.parameters()
        return params[0].dtype if params else None

    def config(self) -> dict:
        return {"type": "Sequential", "layers": [layer.config() for layer in self.layers]}

    def forward(self, x: Array) -> Array:
        for layer, act in self._steps:
            if act is None:
                x = layer.forward(x)
            else:
                x = layer.forward(x, activation=act.name)
                act._y = x
        return x

    def backward(self, dy: Array, need_input_grad: bool = False) -> Array | None:
        """Write every parameter's .grad from dJ/d(output); returns dJ/d(input) if need_input_grad."""
        for index in range(len(self._steps) - 1, -1, -1):
            layer, act = self._steps[index]
            need_dx = need_input_grad or index > 0
            if act is not None:
                dy = layer.backward(dy, y=act._saved_output(), activation=act.name, need_dx=need_dx)
            elif isinstance(layer, FUSING):
                dy = layer.backward(dy, need_dx=need_dx)
            else:
                dy = layer.backward(dy)
        return dy if need_input_grad else None

    def fit(self, x, y, loss, optimizer, **options) -> dict[str, list[float]]:
        from mark1.nn.training import fit

        return fit(self, x, y, loss, optimizer, **options)

    def predict(self, x, batch_size: int | None = None) -> Array:
        from mark1.nn.training import predict

        return predict(self, x, batch_size)

    def evaluate(self, x, y, loss=None, batch_size: int | None = None) -> dict[str, float]:
        from mark1.nn.training import evaluate

        return evaluate(self, x, y, loss, batch_size)

    def save(self, path, optimizer=None, include_rng: bool = False) -> None:
        from mark1.checkpoint import save

        save(self, path, optimizer=optimizer, include_rng=include_rng)

    def load(self, path, optimizer=None) -> None:
        from mark1.checkpoint import load

        load(self, path, optimizer=optimizer)

    def __repr__(self) -> str:
        inner = ",\n  ".join(repr(layer) for layer in self.layers)
        return f"Sequential(\n  {inner}\n)"
