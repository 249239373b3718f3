"""BernoulliRBM and DBN: energy-based models trained by contrastive divergence (Hinton 2002; Tieleman 2008 for
the persistent chains) and stacked greedily into a deep belief net (Hinton, Osindero & Teh 2006).

Training runs one backend op per epoch (rbm_ops.rbm_epoch), so at small batches the per-step cost is the
kernel's, not Python's. Every random draw is Philox4x32-10 keyed by (the RBM's seed, a draw counter, the
element), so a given seed trains the same RBM on every backend.
"""

from __future__ import annotations

import sys
from typing import Any

from tqdm.auto import tqdm

import mark1.layer_ops as layer_ops
import mark1.ops as ops
import mark1.rbm_host as host
import mark1.rbm_ops as rbm_ops
from mark1.backends.registry import get_backend
from mark1.nn.activations import Sigmoid
from mark1.nn.dense import Dense
from mark1.nn.module import Array, Module
from mark1.nn.parameter import Parameter
from mark1.nn.sequential import Sequential

SAMPLING_STREAM = 1  # gibbs() draws under seed + 1, so sampling never reuses a training draw


class BernoulliRBM(Module):
    """A restricted Boltzmann machine over binary visible and hidden units.

    E(v, h) = -v·b - h·c - vᵀWh; `.weight` W is (n_visible, n_hidden), `.visible_bias` b, `.hidden_bias` c.
    fit runs CD-k (persistent=False) or PCD-k with batch-averaged updates, momentum and L2 weight decay on W.
    rng (a NumPy Generator or int seed; None: the generator m1.seed sets) draws the initial weights, the
    Philox seed and the batch order.
    """

    def __init__(self, n_visible: int, n_hidden: int, lr: float = 0.1, k: int = 1, persistent: bool = True,
                 momentum: float = 0.0, weight_decay: float = 0.0, init_std: float = 0.01, rng: Any = None,
                 dtype: str = "float32") -> None:
        where = "BernoulliRBM"
        self.n_visible = host.positive_int(where, "n_visible", n_visible)
        self.n_hidden = host.positive_int(where, "n_hidden", n_hidden)
        self.k = host.positive_int(where, "k", k)
        self.lr = host.non_negative(where, "lr", lr)
        self.momentum = host.non_negative(where, "momentum", momentum)
        self.weight_decay = host.non_negative(where, "weight_decay", weight_decay)
        self.init_std = host.non_negative(where, "init_std", init_std)
        if self.momentum >= 1:
            raise ValueError(f"{where}: momentum must be below 1, got {momentum!r}")
        # an int seed becomes one generator here, so each epoch draws a new batch order from it
        self.persistent, self.dtype, self._rng = bool(persistent), dtype, host.generator(rng)
        weight = host.initial_weights(self.n_visible, self.n_hidden, self.init_std, self._rng)
        self.weight = Parameter(ops.asarray(weight, dtype), "weight")
        self.visible_bias = Parameter(get_backend().zeros((self.n_visible,), self.weight.dtype), "visible_bias")
        self.hidden_bias = Parameter(get_backend().zeros((self.n_hidden,), self.weight.dtype), "hidden_bias")
        self._velocity = [Parameter(get_backend().zeros(p.shape, p.dtype), f"velocity.{p.name}")
                          for p in (self.weight, self.visible_bias, self.hidden_bias)]
        self._counters = Parameter(ops.asarray(host.counters(host.new_seed(self._rng), 0), "int64"), "counters")
        self._chain: Array | None = None
        self._sample_draws = 0

    # --- bookkeeping -------------------------------------------------------------------------------------

    @property
    def seed(self) -> int:
        """The Philox key of this RBM's training draws."""
        return int(ops.to_numpy(self._counters.data)[0])

    @property
    def updates(self) -> int:
        """CD updates done so far (each draws from its own Philox steps)."""
        return int(ops.to_numpy(self._counters.data)[1])

    def parameters(self) -> list[Parameter]:
        return [self.weight, self.visible_bias, self.hidden_bias]

    def named_parameters(self) -> list[tuple[str, Parameter]]:
        """The weights, the momentum buffers and the (seed, updates) counters: what a checkpoint holds."""
        return [(p.name, p) for p in (*self.parameters(), *self._velocity, self._counters)]

    def config(self) -> dict:
        return {"type": "BernoulliRBM", "n_visible": self.n_visible, "n_hidden": self.n_hidden}

    def _data(self, x: Any, where: str) -> Array:
        """x checked on the host (width, [0, 1], finite) and moved to the backend once."""
        return ops.asarray(host.visible_data(x, self.n_visible, f"{self!r}.{where}"), self.dtype)

    # --- inference -----------------------------------------------------------------------------------------

    def _hidden(self, v: Array) -> Array:
        return layer_ops.dense_forward(v, self.weight.data, self.hidden_bias.data, "sigmoid")

    def _visible(self, h: Array) -> Array:
        return layer_ops.dense_forward(h, self.weight.data.T, self.visible_bias.data, "sigmoid")

    def transform(self, x: Any) -> Array:
        """P(h = 1 | v) = σ(vW + c) for each row of x."""
        return self._hidden(self._data(x, "transform"))

    def free_energy(self, x: Any) -> Array:
        """F(v) = -v·b - Σ_j softplus((vW + c)_j) per row; log P(v) = -F(v) - log Z."""
        v = self._data(x, "free_energy")
        return rbm_ops.free_energy(v, self.weight.data, self.visible_bias.data, self.hidden_bias.data)

    def score_samples(self, x: Any) -> Array:
        """Pseudo-log-likelihood per row, Σ_i log P(v_i | v_-i), summed exactly over every bit.

        scikit-learn's BernoulliRBM.score_samples defines the same quantity and estimates it from one randomly
        flipped bit (times n_visible); this is that estimate's expectation, with no randomness.
        """
        v = self._data(x, "score_samples")
        return rbm_ops.pseudo_likelihood(v, self.weight.data, self.visible_bias.data, self.hidden_bias.data)

    def _draw_step(self) -> int:
        self._sample_draws += 1
        return self._sample_draws - 1

    def gibbs(self, v: Any, steps: int = 1) -> Array:
        """The visible sample after `steps` rounds of h ~ P(h | v), v ~ P(v | h), starting from the rows of v."""
        steps = host.positive_int(f"{self!r}.gibbs", "steps", steps)
        vs = self._data(v, "gibbs")
        seed = (self.seed + SAMPLING_STREAM) % 2**64
        for _ in range(steps):
            _, hs = rbm_ops.sigmoid_bernoulli(vs, self.weight.data, self.hidden_bias.data, seed, self._draw_step())
            _, vs = rbm_ops.sigmoid_bernoulli(hs, self.weight.data.T, self.visible_bias.data, seed,
                                              self._draw_step())
        return vs

    # --- training -------------------------------------------------------------------------------------------

    def _monitor(self, rows: Array) -> dict[str, float]:
        """Over the monitored rows: the mean squared reconstruction error (v -> P(h|v) -> P(v|h)) and the
        mean exact pseudo-log-likelihood."""
        recon = self._visible(self._hidden(rows))
        half_sse, _ = layer_ops.mse(recon, rows)  # Σ(recon - v)² / (2m)
        pll = rbm_ops.pseudo_likelihood(rows, self.weight.data, self.visible_bias.data, self.hidden_bias.data)
        return {"reconstruction_error": 2 * float(half_sse) / self.n_visible,
                "pseudo_log_likelihood": float(pll.mean())}

    def fit(self, x: Any, epochs: int = 10, batch_size: int = 10, progress: bool = True, shuffle: bool = True,
            monitor_rows: int | None = 100) -> dict[str, list[float]]:
        """Train with CD-k / PCD-k; returns the history (per epoch) of the mean squared reconstruction error and
        the mean exact pseudo-log-likelihood over `monitor_rows` evenly spaced rows of X (None: all of them;
        0: no history, the fastest fit).

        X must be (n_samples, n_visible) with every value in [0, 1]; it is checked before any weight moves.
        """
        where = f"{self!r}.fit"
        epochs = host.positive_int(where, "epochs", epochs)
        batch_size = host.positive_int(where, "batch_size", batch_size)
        if monitor_rows is not None and (not isinstance(monitor_rows, int) or monitor_rows < 0):
            raise ValueError(f"{where}: monitor_rows must be None or an int >= 0, got {monitor_rows!r}")
        data = self._data(x, "fit")
        n = data.shape[0]
        if n == 0:
            raise ValueError(f"{where}: X has no rows")
        rows = None if monitor_rows == 0 else data[ops.asarray(host.monitor_rows(n, monitor_rows), "int64")]
        if self._chain is None or self._chain.shape[0] != batch_size:  # PCD chains start from h = 0
            self._chain = get_backend().zeros((batch_size, self.n_hidden), self.weight.dtype)
        history: dict[str, list[float]] = {} if rows is None else {"reconstruction_error": [],
                                                                   "pseudo_log_likelihood": []}
        bar = tqdm(range(epochs), desc="RBM", disable=not progress or not sys.stderr.isatty(), leave=False)
        for _ in bar:
            self._epoch(data, host.batch_order(n, shuffle, self._rng), batch_size)
            for key, value in ({} if rows is None else self._monitor(rows)).items():
                history[key].append(value)
            bar.set_postfix({key: f"{values[-1]:.4g}" for key, values in history.items()})
        return history

    def _epoch(self, data: Array, order, batch_size: int) -> None:
        seed, updates = self.seed, self.updates
        dw, dvb, dhb = (p.data for p in self._velocity)
        rbm_ops.rbm_epoch(data, ops.asarray(order, "int64"), self.weight.data, self.visible_bias.data,
                          self.hidden_bias.data, dw, dvb, dhb, self._chain, seed, updates, batch_size, self.k,
                          self.persistent, self.lr, self.momentum, self.weight_decay)
        batches = -(-len(order) // batch_size)
        self._counters.data = ops.asarray(host.counters(seed, updates + batches), "int64")

    def save(self, path) -> None:
        """Weights, biases, momentum buffers and the Philox counters to one .npz (mark1/checkpoint.py)."""
        from mark1.checkpoint import save

        save(self, path)

    def load(self, path) -> None:
        from mark1.checkpoint import load

        load(self, path)
        self._chain = None

    def __repr__(self) -> str:
        return f"BernoulliRBM({self.n_visible}, {self.n_hidden})"


class DBN(Module):
    """A deep belief net: RBMs sizes[0]-sizes[1], sizes[1]-sizes[2], ..., each trained on the hidden
    probabilities of the one below (greedy layer-wise pretraining, Hinton, Osindero & Teh 2006)."""

    def __init__(self, sizes: list[int], **rbm_options: Any) -> None:
        if len(sizes) < 2:
            raise ValueError(f"DBN needs at least two layer sizes, got {sizes!r}")
        self.sizes = [host.positive_int("DBN", "sizes[i]", s) for s in sizes]
        # one generator for all layers: an int seed must not give every RBM the same draws
        options = {**rbm_options, "rng": host.generator(rbm_options.get("rng"))}
        self.rbms = [BernoulliRBM(a, b, **options) for a, b in zip(self.sizes, self.sizes[1:], strict=False)]

    def named_parameters(self) -> list[tuple[str, Parameter]]:
        return [(f"{i}.{name}", p) for i, rbm in enumerate(self.rbms) for name, p in rbm.named_parameters()]

    def parameters(self) -> list[Parameter]:
        return [p for rbm in self.rbms for p in rbm.parameters()]

    def config(self) -> dict:
        return {"type": "DBN", "sizes": list(self.sizes)}

    def pretrain(self, x: Any, epochs: int = 10, batch_size: int = 10, progress: bool = True,
                 **fit_options: Any) -> list[dict[str, list[float]]]:
        """Train the RBMs bottom-up; returns each one's history. X is checked by the first RBM before it trains."""
        histories, layer_input = [], x
        for rbm in self.rbms:
            histories.append(rbm.fit(layer_input, epochs, batch_size, progress, **fit_options))
            layer_input = rbm.transform(layer_input)
        return histories

    def transform(self, x: Any) -> Array:
        for rbm in self.rbms:
            x = rbm.transform(x)
        return x

    def to_sequential(self, n_classes: int, rng: Any = None) -> Sequential:
        """Sequential(Dense, Sigmoid, ..., Dense(sizes[-1], n_classes)): each Dense starts from its RBM's weight
        and hidden bias (copies); the output layer is Xavier-initialised. Fine-tune it with `fit`."""
        n_classes = host.positive_int("DBN.to_sequential", "n_classes", n_classes)
        layers: list[Module] = []
        for rbm in self.rbms:
            dense = Dense(rbm.n_visible, rbm.n_hidden, init="xavier", rng=rng, dtype=rbm.dtype)
            dense.weight.data, dense.bias.data = rbm.weight.data.copy(), rbm.hidden_bias.data.copy()
            layers += [dense, Sigmoid()]
        layers.append(Dense(self.sizes[-1], n_classes, rng=rng, dtype=self.rbms[-1].dtype))
        return Sequential(*layers)

    def save(self, path) -> None:
        from mark1.checkpoint import save

        save(self, path)

    def load(self, path) -> None:
        from mark1.checkpoint import load

        load(self, path)
        for rbm in self.rbms:
            rbm._chain = None
