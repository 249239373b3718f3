"""Training end to end: XOR, fit's options (validation, early stopping, seeded shuffling), predict/evaluate,
backends agreeing with the NumPy reference, and bad input refused with the model left unchanged."""

from __future__ import annotations

import numpy as np
import pytest

import mark1 as m1
from mark1 import nn

from oracle import same_arrays, weights

XOR_X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float32)
XOR_Y = np.array([0, 1, 1, 0], dtype=np.float32)


def _xor_model():
    return nn.Sequential(nn.Dense(2, 8), nn.Sigmoid(), nn.Dense(8, 1), nn.Sigmoid())


def _blobs(n=120, seed=0):
    """Three separable Gaussian clusters in 4-D with integer labels."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 3, n)
    centres = np.array([[3, 0, 0, 0], [0, 3, 0, 0], [0, 0, 3, 0]], dtype=np.float32)
    return (centres[labels] + rng.standard_normal((n, 4)).astype(np.float32)), labels


def test_xor_reaches_four_of_four(backend):
    m1.seed(0)
    model = _xor_model()
    history = model.fit(XOR_X, XOR_Y, loss=nn.BCELoss(), optimizer=nn.SGD(model.parameters(), lr=2.0, momentum=0.9),
                        epochs=300, batch_size=4, progress=False)
    predictions = m1.to_numpy(model.predict(XOR_X)).ravel() > 0.5
    assert (predictions == XOR_Y.astype(bool)).all(), predictions
    assert history["accuracy"][-1] == 1.0
    assert history["loss"][-1] < history["loss"][0]


def test_backend_matches_numpy_reference_after_ten_steps(backend):
    if backend.name == "numpy":  # numpy against numpy would check nothing; torch checks it in test_nn_torch.py
        pytest.skip("the numpy backend is the reference here; test_nn_torch.py compares it with torch autograd")
    x, labels = _blobs(64)

    def train(name):
        with m1.backend(name):
            m1.seed(3)
            model = nn.Sequential(nn.Dense(4, 16), nn.Sigmoid(), nn.Dense(16, 8), nn.ReLU(), nn.Dense(8, 3))
            model.fit(x, labels, loss=nn.CrossEntropyLoss(), optimizer=nn.Adam(model.parameters(), lr=0.01),
                      epochs=5, batch_size=32, progress=False)  # 64 / 32 * 5 = 10 steps
            return weights(model)

    for ours, reference in zip(train(backend.name), train("numpy"), strict=True):
        np.testing.assert_allclose(ours, reference, rtol=1e-5, atol=1e-5)


def test_fit_history_validation_and_accuracy():
    x, labels = _blobs(200)
    m1.seed(1)
    model = nn.Sequential(nn.Dense(4, 16), nn.Tanh(), nn.Dense(16, 3))
    history = model.fit(x, labels, loss=nn.CrossEntropyLoss(), optimizer=nn.Adam(model.parameters(), lr=0.05),
                        epochs=15, batch_size=16, validation_split=0.25, progress=False)
    assert set(history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert all(len(v) == 15 for v in history.values())
    assert history["val_accuracy"][-1] > 0.9
    result = model.evaluate(x, labels, loss=nn.CrossEntropyLoss())
    assert result["accuracy"] > 0.9 and result["loss"] < history["loss"][0]


def test_early_stopping_restores_the_best_weights():
    x, labels = _blobs(100)
    m1.seed(2)
    model = nn.Sequential(nn.Dense(4, 8), nn.Sigmoid(), nn.Dense(8, 3))
    # a huge learning rate makes the validation loss bounce, so patience must trigger
    history = model.fit(x, labels, loss=nn.CrossEntropyLoss(), optimizer=nn.SGD(model.parameters(), lr=50.0),
                        epochs=200, batch_size=10, validation_data=_blobs(60, seed=9), patience=3, progress=False)
    epochs_run = len(history["val_loss"])
    assert epochs_run < 200
    best = int(np.argmin(history["val_loss"]))
    assert epochs_run - 1 - best == 3
    restored = model.evaluate(*_blobs(60, seed=9), loss=nn.CrossEntropyLoss())["loss"]
    assert restored == pytest.approx(history["val_loss"][best], rel=1e-5)


def test_same_seed_same_training_different_seed_differs():
    def run(seed):
        m1.seed(seed)
        model = _xor_model()
        model.fit(XOR_X, XOR_Y, loss=nn.MSELoss(), optimizer=nn.SGD(model.parameters(), lr=0.5), epochs=5,
                  batch_size=2, progress=False)
        return weights(model)

    assert same_arrays(run(4), run(4))
    assert not same_arrays(run(4), run(5))


def test_relu_layers_get_he_init_unless_told():
    m1.seed(0)
    he = nn.Sequential(nn.Dense(400, 300), nn.ReLU()).layers[0].weight.data
    xavier = nn.Sequential(nn.Dense(400, 300), nn.Sigmoid()).layers[0].weight.data
    assert m1.to_numpy(he).std() == pytest.approx(np.sqrt(2 / 400), rel=0.02)
    assert m1.to_numpy(xavier).std() == pytest.approx(np.sqrt(2 / 700), rel=0.02)  # U(±√(6/700)) has σ √(2/700)


def test_predict_in_batches_equals_whole(backend):
    m1.seed(0)
    model = nn.Sequential(nn.Dense(4, 5), nn.Tanh(), nn.Dense(5, 2))
    x = np.random.default_rng(0).standard_normal((13, 4))
    whole = m1.to_numpy(model.predict(x))
    np.testing.assert_allclose(m1.to_numpy(model.predict(x, batch_size=4)), whole, rtol=1e-6)


# --- bad input: a clear error, nothing changed ----------------------------------------------------------

def test_dense_wrong_width_names_both_shapes():
    with pytest.raises(ValueError, match=r"Dense\(4, 3\) got input of shape \(8, 5\): expected \(\.\.\., 4\)"):
        nn.Dense(4, 3)(m1.asarray(np.ones((8, 5))))


def test_sequential_refuses_layers_that_do_not_chain():
    with pytest.raises(ValueError, match="outputs 3 features but the next"):
        nn.Sequential(nn.Dense(2, 3), nn.Sigmoid(), nn.Dense(4, 1))


@pytest.mark.parametrize("loss", [nn.MSELoss(), nn.BCELoss(), nn.BCEWithLogitsLoss()])
def test_losses_refuse_mismatched_shapes(loss):
    with pytest.raises(ValueError, match=r"shapes differ \(pred.shape=\(4, 2\), target.shape=\(4, 3\)\)"):
        loss(m1.asarray(np.full((4, 2), 0.5)), np.full((4, 3), 0.5))


def test_cross_entropy_refuses_labels_out_of_range():
    with pytest.raises(ValueError, match=r"label 3 at row 1 is out of range for 3 classes"):
        nn.CrossEntropyLoss()(m1.asarray(np.zeros((2, 3))), np.array([0, 3]))
    with pytest.raises(ValueError, match=r"label -1 at row 1 is out of range for 3 classes"):
        nn.CrossEntropyLoss()(m1.asarray(np.zeros((2, 3))), m1.asarray([0, -1], dtype="int64"))


def test_fit_refuses_nan_before_the_first_step():
    m1.seed(0)
    model = _xor_model()
    before = weights(model)
    x = XOR_X.copy()
    x[2, 1] = np.nan
    with pytest.raises(ValueError, match=r"X contains nan at row 2, column 1"):
        model.fit(x, XOR_Y, loss=nn.BCELoss(), optimizer=nn.SGD(model.parameters(), lr=1.0), progress=False)
    assert same_arrays(before, weights(model))


def test_fit_refuses_labels_out_of_range_before_training():
    x, labels = _blobs(20)
    labels[7] = 5
    model = nn.Sequential(nn.Dense(4, 3))
    before = weights(model)
    with pytest.raises(ValueError, match=r"y: label 5 at row 7 is out of range for 3 classes"):
        model.fit(x, labels, loss=nn.CrossEntropyLoss(), optimizer=nn.SGD(model.parameters(), lr=1.0), progress=False)
    assert same_arrays(before, weights(model))


@pytest.mark.parametrize("bad", [np.array([[1 + 2j, 0]]), np.array([["a", "b"]], dtype=object)])
def test_non_numeric_data_is_refused(bad):
    model = nn.Sequential(nn.Dense(2, 1))
    with pytest.raises(TypeError, match="dtype"):
        model.fit(bad, [1.0], loss=nn.MSELoss(), optimizer=nn.SGD(model.parameters(), lr=1.0), progress=False)


def test_optimizer_step_with_a_bad_gradient_changes_no_parameter():
    model = _xor_model()
    opt = nn.SGD(model.parameters(), lr=1.0)
    for p in model.parameters():
        p.grad = m1.asarray(np.ones(p.shape))
    model.parameters()[-1].grad = m1.asarray(np.ones(5))  # the last one is wrong: nothing may move
    before = weights(model)
    with pytest.raises(ValueError, match="parameter 3"):
        opt.step()
    assert same_arrays(before, weights(model))


@pytest.mark.parametrize("zeroing", ["optimizer", "model"])
def test_zero_grad_reads_zeros_without_keeping_stale_values(backend, zeroing):
    """zero_grad() makes every .grad read as zeros of the parameter's shape and dtype (a read-only zero array on
    the host, so nothing can write into it); backward() then writes fresh gradients, and a step after
    zero_grad() alone moves nothing."""
    model = _xor_model()
    opt = nn.SGD(model.parameters(), lr=1.0)
    x, y = np.array([[0.0, 1.0], [1.0, 0.0]]), np.array([[1.0], [1.0]])
    loss = nn.MSELoss()
    loss(model(m1.asarray(x)), m1.asarray(y))
    model.backward(loss.backward())
    assert any(np.abs(m1.to_numpy(p.grad)).max() > 0 for p in model.parameters())
    (opt if zeroing == "optimizer" else model).zero_grad()
    for p in model.parameters():
        assert p.grad.shape == p.shape and p.grad.dtype == p.dtype and not m1.to_numpy(p.grad).any()
        if isinstance(p.grad, np.ndarray):
            with pytest.raises(ValueError, match="read-only"):
                p.grad[...] = 1
    before = weights(model)
    opt.step()
    assert same_arrays(before, weights(model))
    loss(model(m1.asarray(x)), m1.asarray(y))
    model.backward(loss.backward())
    assert any(np.abs(m1.to_numpy(p.grad)).max() > 0 for p in model.parameters())


def test_optimizer_hyperparameters_are_checked():
    params = nn.Dense(2, 2).parameters()
    with pytest.raises(ValueError, match="lr must be a positive number"):
        nn.SGD(params, lr=-1)
    with pytest.raises(ValueError, match=r"momentum must be in \[0, 1\)"):
        nn.SGD(params, lr=0.1, momentum=1.5)
    with pytest.raises(TypeError, match="not a Parameter"):
        nn.Adam([np.ones(3)])


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # NumPy warns as the weights blow up
def test_diverging_training_raises_instead_of_returning_nan():
    m1.seed(0)
    model = nn.Sequential(nn.Dense(2, 4), nn.Dense(4, 1))
    x = np.random.default_rng(0).standard_normal((32, 2)) * 100
    with pytest.raises(FloatingPointError, match="diverged"):
        model.fit(x, x.sum(1), loss=nn.MSELoss(), optimizer=nn.SGD(model.parameters(), lr=10.0), epochs=50,
                  progress=False)


def test_fit_options_are_checked():
    model = _xor_model()
    opt = nn.SGD(model.parameters(), lr=1.0)
    with pytest.raises(ValueError, match="batch_size must be a positive int"):
        model.fit(XOR_X, XOR_Y, loss=nn.MSELoss(), optimizer=opt, batch_size=0)
    with pytest.raises(ValueError, match="X has 4 rows but y has 3"):
        model.fit(XOR_X, XOR_Y[:3], loss=nn.MSELoss(), optimizer=opt)
    with pytest.raises(ValueError, match="needs validation_split or validation_data"):
        model.fit(XOR_X, XOR_Y, loss=nn.MSELoss(), optimizer=opt, patience=2, monitor="val_loss")
