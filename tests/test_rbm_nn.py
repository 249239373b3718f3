"""nn.BernoulliRBM and nn.DBN: training history, the same RBM for one seed on every backend, bad input refused with
nothing changed, checkpoint round trips, and the fine-tuned network's gradients as for any Sequential."""

from __future__ import annotations

import numpy as np
import pytest
from test_nn_gradients import check_model

import mark1 as m1
from mark1 import nn
from mark1 import rbm_host as host

from oracle import same_arrays


def state(model) -> list[np.ndarray]:
    return [m1.to_numpy(p.data).copy() for _, p in model.named_parameters()]


@pytest.fixture
def bars(rng):
    """Tiny binary data with structure: 4x4 images of one horizontal or vertical bar, plus a little noise."""
    images = []
    for i in range(40):
        img = np.zeros((4, 4))
        if i % 2:
            img[i % 4, :] = 1
        else:
            img[:, i % 4] = 1
        images.append(img.ravel())
    data = np.array(images)
    flip = rng.random(data.shape) < 0.03
    return np.where(flip, 1 - data, data)


def test_fit_returns_a_history_and_learns(backend, bars):
    rbm = nn.BernoulliRBM(16, 6, lr=0.5, momentum=0.5, rng=0)
    history = rbm.fit(bars, epochs=8, batch_size=10, progress=False)
    assert set(history) == {"reconstruction_error", "pseudo_log_likelihood"}
    assert all(len(v) == 8 for v in history.values())
    assert history["reconstruction_error"][-1] < 0.9 * history["reconstruction_error"][0]
    assert history["pseudo_log_likelihood"][-1] > history["pseudo_log_likelihood"][0]
    assert rbm.updates == 8 * 4
    assert nn.BernoulliRBM(16, 2, rng=0).fit(bars, 1, 10, False, monitor_rows=0) == {}


@pytest.mark.parametrize("persistent", [True, False])
def test_one_seed_trains_the_same_rbm_on_every_backend(backend, bars, persistent):
    def train():
        rbm = nn.BernoulliRBM(16, 5, lr=0.2, k=2, persistent=persistent, momentum=0.5, weight_decay=1e-3, rng=7)
        rbm.fit(bars, epochs=2, batch_size=7, progress=False, monitor_rows=0)
        return rbm, [m1.to_numpy(p.data) for p in rbm.parameters()]

    _, got = train()
    with m1.backend("numpy"):
        _, expected = train()
    for g, e in zip(got, expected, strict=True):
        np.testing.assert_allclose(g, e, rtol=1e-5, atol=1e-6)


def test_gibbs_samples_are_binary_and_reproducible(backend, bars):
    a, b = nn.BernoulliRBM(16, 4, rng=3), nn.BernoulliRBM(16, 4, rng=3)
    sa, sb = m1.to_numpy(a.gibbs(bars[:5], steps=3)), m1.to_numpy(b.gibbs(bars[:5], steps=3))
    assert sa.shape == (5, 16) and set(np.unique(sa)) <= {0.0, 1.0}
    np.testing.assert_array_equal(sa, sb)
    assert not np.array_equal(m1.to_numpy(a.gibbs(bars[:5], steps=3)), sa)  # the next call draws anew


@pytest.mark.parametrize("bad,match", [
    (lambda x: x * 2, "outside \\[0, 1\\]"),
    (lambda x: x[:, :15], "expected \\(n_samples, 16\\)"),
    (lambda x: np.where(np.arange(16) == 3, np.nan, x), "contains nan at row 0, column 3"),
    (lambda x: x - 1, "outside \\[0, 1\\]"),
])
def test_bad_input_is_refused_before_any_weight_moves(backend, bars, bad, match):
    rbm = nn.BernoulliRBM(16, 4, rng=0)
    before = state(rbm)
    for call in (lambda d: rbm.fit(d, 1, 5, progress=False), rbm.transform, rbm.score_samples, rbm.free_energy,
                 rbm.gibbs):
        with pytest.raises(ValueError, match=match):
            call(bad(bars))
    assert same_arrays(state(rbm), before)
    with pytest.raises(ValueError, match="batch_size"):
        rbm.fit(bars, 1, 0)
    assert same_arrays(state(rbm), before)


def test_rbm_checkpoint_round_trip_resumes_training_exactly(backend, bars, tmp_path):
    rbm = nn.BernoulliRBM(16, 5, momentum=0.5, rng=1)
    rbm.fit(bars, 2, 10, progress=False, monitor_rows=0)
    rbm.save(tmp_path / "rbm.npz")
    restored = nn.BernoulliRBM(16, 5, momentum=0.5, rng=99)
    restored.load(tmp_path / "rbm.npz")
    assert same_arrays(state(restored), state(rbm)) and restored.seed == rbm.seed and restored.updates == 8
    for model in (rbm, restored):
        model._chain = None  # a loaded RBM restarts its persistent chain; compare from the same start
        model.fit(bars, 1, 10, progress=False, monitor_rows=0, shuffle=False)
    assert same_arrays(state(restored), state(rbm))
    other = nn.BernoulliRBM(16, 6, rng=0)
    before = state(other)
    with pytest.raises(ValueError, match="n_hidden"):
        other.load(tmp_path / "rbm.npz")
    assert same_arrays(state(other), before)


def test_dbn_pretrains_greedily_and_round_trips(backend, bars, tmp_path):
    dbn = nn.DBN([16, 8, 4], lr=0.1, rng=2)
    histories = dbn.pretrain(bars, epochs=3, batch_size=10, progress=False)
    assert len(histories) == 2 and all(len(h["reconstruction_error"]) == 3 for h in histories)
    assert [r.updates for r in dbn.rbms] == [12, 12]  # 3 epochs of 4 batches
    dbn.save(tmp_path / "dbn.npz")
    restored = nn.DBN([16, 8, 4], rng=5)
    restored.load(tmp_path / "dbn.npz")
    assert same_arrays(state(restored), state(dbn))
    np.testing.assert_array_equal(m1.to_numpy(restored.transform(bars)), m1.to_numpy(dbn.transform(bars)))
    with pytest.raises(ValueError, match="sizes"):
        nn.DBN([16, 8, 5]).load(tmp_path / "dbn.npz")


def test_to_sequential_starts_from_the_rbms_and_has_correct_gradients(backend, bars, rng):
    dbn = nn.DBN([16, 6, 5], dtype="float64", rng=4, init_std=0.5)  # not pretrained: only the hand-over matters
    model = dbn.to_sequential(3, rng=0)
    kinds = [type(layer).__name__ for layer in model.layers]
    assert kinds == ["Dense", "Sigmoid", "Dense", "Sigmoid", "Dense"]
    for dense, rbm in zip(model.layers[0:4:2], dbn.rbms, strict=True):
        np.testing.assert_array_equal(m1.to_numpy(dense.weight.data), m1.to_numpy(rbm.weight.data))
        np.testing.assert_array_equal(m1.to_numpy(dense.bias.data), m1.to_numpy(rbm.hidden_bias.data))
    assert model(m1.asarray(bars[:3], "float64")).shape == (3, 3)
    labels = m1.asarray(rng.integers(0, 3, 4), "int64")
    check_model(model, nn.CrossEntropyLoss(), bars[:4], labels, rng)
    before = m1.to_numpy(dbn.rbms[0].weight.data).copy()  # fine-tuning must not write into the RBM's arrays
    model.fit(bars, rng.integers(0, 3, len(bars)), loss=nn.CrossEntropyLoss(),
              optimizer=nn.SGD(model.parameters(), lr=0.5), epochs=1, progress=False)
    np.testing.assert_array_equal(m1.to_numpy(dbn.rbms[0].weight.data), before)


def test_an_int_seed_gives_new_batch_orders_and_distinct_layers(bars):
    with m1.backend("numpy"):
        dbn = nn.DBN([16, 16, 16], rng=3)
        seeds = [rbm.seed for rbm in dbn.rbms]
        assert seeds[0] != seeds[1]
        assert not np.array_equal(m1.to_numpy(dbn.rbms[0].weight.data), m1.to_numpy(dbn.rbms[1].weight.data))
        rbm = dbn.rbms[0]
        orders = [host.batch_order(10, True, rbm._rng) for _ in range(2)]
        assert not np.array_equal(*orders)
