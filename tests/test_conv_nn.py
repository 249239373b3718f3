"""Conv2d, MaxPool2d, AvgPool2d, Flatten in networks: finite differences, torch parity, training, checkpoints.

All on every backend at tiny sizes (the CUDA simulator runs this file too). Torch parity is float64 to 1e-6
relative: loss, every gradient, and the parameters after SGD-with-momentum and Adam steps.
"""

from __future__ import annotations

import numpy as np
import pytest
from test_nn_gradients import check_model

import mark1 as m1
from mark1 import nn

from oracle import same_arrays, weights

torch = pytest.importorskip("torch")
TOL = dict(rtol=1e-6, atol=1e-9)


def _cnn(rng, dtype="float64"):
    layers = [nn.Conv2d(2, 3, 3, padding=1, rng=rng, dtype=dtype), nn.ReLU()]
    layers += [nn.MaxPool2d(2), nn.Conv2d(3, 4, (2, 3), stride=(1, 2), padding=(1, 1), rng=rng, dtype=dtype),
               nn.Tanh(), nn.AvgPool2d(2, stride=1), nn.Flatten(), nn.Dense(4 * 3 * 1, 3, rng=rng, dtype=dtype)]
    return nn.Sequential(*layers)


def test_cnn_gradients_match_finite_differences(backend):
    """Conv2d fused with ReLU and with Tanh, both poolings, Flatten, Dense (an unfused Conv2d: the next test)."""
    rng = np.random.default_rng(3)
    model = _cnn(rng)
    x = rng.standard_normal((3, 2, 6, 8))
    check_model(model, nn.CrossEntropyLoss(), x, rng.integers(0, 3, 3), rng)


def test_same_padding_even_kernel_gradients(backend):
    rng = np.random.default_rng(4)
    model = nn.Sequential(nn.Conv2d(1, 2, 2, padding="same", rng=rng, dtype="float64"), nn.Flatten(),
                          nn.Dense(2 * 4 * 5, 1, rng=rng, dtype="float64"))
    target = m1.asarray(rng.standard_normal((2, 1)), dtype="float64")
    check_model(model, nn.MSELoss(), rng.standard_normal((2, 1, 4, 5)), target, rng)


def _pair_of_models():
    """The same small CNN in mark1 and torch, with identical weights (Conv2d weights share torch's layout)."""
    rng = np.random.default_rng(5)
    ours = nn.Sequential(
        nn.Conv2d(1, 4, 3, padding="same", rng=rng, dtype="float64"), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(4, 6, (3, 2), stride=(2, 1), padding=1, rng=rng, dtype="float64"), nn.Tanh(),
        nn.AvgPool2d(2, stride=1), nn.Flatten(), nn.Dense(6 * 1 * 3, 5, rng=rng, dtype="float64"))
    theirs = torch.nn.Sequential(
        torch.nn.Conv2d(1, 4, 3, padding="same", dtype=torch.float64), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(4, 6, (3, 2), stride=(2, 1), padding=1, dtype=torch.float64), torch.nn.Tanh(),
        torch.nn.AvgPool2d(2, stride=1), torch.nn.Flatten(), torch.nn.Linear(6 * 1 * 3, 5, dtype=torch.float64))
    for p in ours.parameters():
        if p.name == "bias":
            p.data = m1.asarray(rng.standard_normal(p.shape) * 0.1, dtype="float64")
    with torch.no_grad():
        for p, t in zip(ours.parameters(), _torch_params(theirs), strict=True):
            value = m1.to_numpy(p.data)
            t.copy_(torch.from_numpy(value.T.copy() if value.ndim == 2 else value.copy()))
    return ours, theirs


def _torch_params(theirs):
    return [p for layer in theirs if isinstance(layer, torch.nn.Conv2d | torch.nn.Linear)
            for p in (layer.weight, layer.bias)]


def _as_ours(t):
    value = t.detach().numpy()
    return value.T if value.ndim == 2 else value


def _step(ours, theirs, x, labels):
    loss = nn.CrossEntropyLoss()
    value = float(loss(ours(m1.asarray(x, dtype="float64")), labels))
    ours.backward(loss.backward())
    theirs.zero_grad()
    t_value = torch.nn.functional.cross_entropy(theirs(torch.from_numpy(x)), torch.from_numpy(labels))
    t_value.backward()
    return value, t_value.item()


def _batch():
    rng = np.random.default_rng(6)
    return rng.standard_normal((7, 1, 8, 6)), rng.integers(0, 5, 7)


def test_loss_and_every_gradient_match_torch(backend):
    ours, theirs = _pair_of_models()
    x, labels = _batch()
    value, t_value = _step(ours, theirs, x, labels)
    np.testing.assert_allclose(value, t_value, **TOL)
    for p, t in zip(ours.parameters(), _torch_params(theirs), strict=True):
        np.testing.assert_allclose(m1.to_numpy(p.grad), _as_ours(t.grad), **TOL, err_msg=p.name)


@pytest.mark.parametrize("optimizer", ["sgd_momentum", "adam"])
def test_optimizer_steps_match_torch(backend, optimizer):
    ours, theirs = _pair_of_models()
    x, labels = _batch()
    if optimizer == "adam":
        opt, t_opt = nn.Adam(ours.parameters(), lr=0.01), torch.optim.Adam(theirs.parameters(), lr=0.01)
    else:
        opt = nn.SGD(ours.parameters(), lr=0.1, momentum=0.9)
        t_opt = torch.optim.SGD(theirs.parameters(), lr=0.1, momentum=0.9)
    for _ in range(2):
        _step(ours, theirs, x, labels)
        opt.step()
        t_opt.step()
    for p, t in zip(ours.parameters(), _torch_params(theirs), strict=True):
        np.testing.assert_allclose(m1.to_numpy(p.data), _as_ours(t), **TOL, err_msg=p.name)


def _bars(rng, count):
    """6x6 images of one vertical (class 0) or horizontal (class 1) bar at a random place, plus noise."""
    labels = rng.integers(0, 2, count)
    x = rng.normal(0, 0.1, (count, 1, 6, 6))
    for k, (label, at) in enumerate(zip(labels, rng.integers(0, 6, count), strict=True)):
        if label:
            x[k, 0, at, :] += 1
        else:
            x[k, 0, :, at] += 1
    return x, labels


def test_a_cnn_trains(backend):
    rng = np.random.default_rng(0)
    x, labels = _bars(rng, 32)
    model = nn.Sequential(nn.Conv2d(1, 4, 3, rng=rng), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                          nn.Dense(16, 2, rng=rng))
    model.fit(x, labels, loss=nn.CrossEntropyLoss(), optimizer=nn.Adam(model.parameters(), lr=0.05), epochs=15,
              batch_size=8, progress=False, rng=1)
    assert model.evaluate(x, labels)["accuracy"] >= 0.95


def test_checkpoint_round_trip_and_a_different_conv_is_refused(backend, tmp_path):
    rng = np.random.default_rng(1)
    model = _cnn(rng, dtype="float32")
    path = tmp_path / "cnn.npz"
    model.save(path)
    again = _cnn(np.random.default_rng(2), dtype="float32")
    again.load(path)
    assert same_arrays(weights(model), weights(again))
    other = nn.Sequential(nn.Conv2d(2, 5, 3, padding=1), nn.ReLU(), *_cnn(rng, dtype="float32").layers[2:])
    before = weights(other)
    with pytest.raises(ValueError, match=r"architecture\.layers\[0\]\.out_channels is 3 in the file but 5"):
        other.load(path)
    assert same_arrays(before, weights(other))


def test_layer_errors_name_the_shapes(backend):
    conv = nn.Conv2d(1, 8, 5)
    with pytest.raises(ValueError, match=r"Conv2d\(in_channels=1.*\(2, 3, 8, 8\).*\(batch, 1, height, width\)"):
        conv(m1.asarray(np.zeros((2, 3, 8, 8))))
    with pytest.raises(ValueError, match="smaller than the kernel"):
        conv(m1.asarray(np.zeros((2, 1, 4, 8))))
    for bad in (dict(in_channels=0), dict(kernel_size=0), dict(stride=(1, 0)), dict(padding="valid"),
                dict(padding=-1), dict(stride=2, padding="same")):
        args = dict(in_channels=1, out_channels=2, kernel_size=3) | bad
        with pytest.raises(ValueError):
            nn.Conv2d(**args)
    with pytest.raises(RuntimeError, match="before forward"):
        nn.MaxPool2d(2).backward(m1.asarray(np.zeros((1, 1, 1, 1))))


def test_sequential_fuses_conv_and_picks_he_for_relu(backend):
    conv = nn.Conv2d(3, 64, 3, rng=0)
    xavier_std = float(np.std(m1.to_numpy(conv.weight.data)))
    model = nn.Sequential(conv, nn.ReLU(), nn.Flatten())
    assert model._steps[0][1] is model.layers[1]
    he_std = float(np.std(m1.to_numpy(conv.weight.data)))
    np.testing.assert_allclose(he_std, np.sqrt(2 / 27), rtol=0.05)
    np.testing.assert_allclose(xavier_std, np.sqrt(6 / (27 + 576)) / np.sqrt(3), rtol=0.05)
