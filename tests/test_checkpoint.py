"""Checkpoints: round trip (weights, optimizer state, RNG), across backends, and every way a file can be wrong,
each refused with the file named and the model unchanged."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile

import numpy as np
import pytest

import mark1 as m1
from mark1 import nn

from oracle import same_arrays, weights


def _model():
    return nn.Sequential(nn.Dense(3, 5), nn.Tanh(), nn.Dense(5, 2))


def _trained(steps=3):
    m1.seed(11)
    model = _model()
    opt = nn.Adam(model.parameters(), lr=0.05)
    x = np.random.default_rng(0).standard_normal((8, 3))
    model.fit(x, np.arange(8) % 2, loss=nn.CrossEntropyLoss(), optimizer=opt, epochs=steps, batch_size=8,
              progress=False)
    return model, opt


def test_round_trip_restores_weights_and_optimizer(tmp_path):
    model, opt = _trained()
    path = tmp_path / "w.npz"
    model.save(path, optimizer=opt)
    m1.seed(99)
    fresh = _model()
    fresh_opt = nn.Adam(fresh.parameters(), lr=0.05)
    fresh.load(path, optimizer=fresh_opt)
    assert same_arrays(weights(fresh), weights(model))
    assert fresh_opt.steps == opt.steps == 3
    for mine, theirs in zip(fresh_opt.state, opt.state, strict=True):
        for key in ("m", "v"):
            np.testing.assert_array_equal(m1.to_numpy(mine[key]), m1.to_numpy(theirs[key]))
    assert list(tmp_path.iterdir()) == [path]  # no temporary file left behind


def test_saved_rng_state_replays_the_same_draws(tmp_path):
    model = _model()
    m1.seed(5)
    model.save(tmp_path / "w.npz", include_rng=True)
    first = m1.rng.generator().random(4)
    model.load(tmp_path / "w.npz")
    np.testing.assert_array_equal(m1.rng.generator().random(4), first)


def test_loads_on_every_backend(backend, tmp_path):
    with m1.backend("numpy"):
        model, _ = _trained()
        model.save(tmp_path / "w.npz")
        expected = weights(model)
    other = _model()
    other.load(tmp_path / "w.npz")
    assert same_arrays(weights(other), expected)
    assert all(backend.owns(p.data) for p in other.parameters())


def _refused(model, path, match):
    before = weights(model)
    with pytest.raises((ValueError, FileNotFoundError), match=match) as info:
        model.load(path)
    assert str(path) in str(info.value)
    assert same_arrays(before, weights(model))


def test_missing_file(tmp_path):
    _refused(_model(), tmp_path / "nope.npz", "does not exist")


def test_truncated_file(tmp_path):
    model, _ = _trained()
    path = tmp_path / "w.npz"
    model.save(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    _refused(_model(), path, "cannot read checkpoint")


def test_corrupted_bytes(tmp_path):
    path = tmp_path / "w.npz"
    path.write_bytes(b"PK\x03\x04 this is not really a zip archive" * 10)
    _refused(_model(), path, "cannot read checkpoint")


def test_pickle_bearing_file_is_never_unpickled(tmp_path):
    path = tmp_path / "evil.npz"
    np.savez(path, __header__=np.array({"format": "mark1-checkpoint"}, dtype=object))
    _refused(_model(), path, "pickled objects")


def test_foreign_npz(tmp_path):
    path = tmp_path / "foreign.npz"
    np.savez(path, weights=np.ones(3))
    _refused(_model(), path, "not a mark1 checkpoint")


def test_different_architecture_names_the_first_difference(tmp_path):
    nn.Sequential(nn.Dense(3, 6), nn.Tanh(), nn.Dense(6, 2)).save(tmp_path / "w.npz")
    _refused(_model(), tmp_path / "w.npz", r"architecture.layers\[0\].out_features is 6 in the file but 5")
    nn.Sequential(nn.Dense(3, 5), nn.ReLU(), nn.Dense(5, 2)).save(tmp_path / "r.npz")
    _refused(_model(), tmp_path / "r.npz", r"layers\[1\].type is 'ReLU' in the file but 'Tanh'")


def test_tampered_parameter_shape(tmp_path):
    path = tmp_path / "w.npz"
    _model().save(path)
    with np.load(path) as archive:
        arrays = dict(archive)
    arrays["param/2.bias"] = np.zeros(3, dtype=np.float32)
    np.savez(path, **arrays)
    _refused(_model(), path, r"parameter 2.bias is float32\[3\] in the file but float32\[2\]")


def test_dtype_mismatch(tmp_path):
    nn.Sequential(nn.Dense(3, 5, dtype="float64"), nn.Tanh(), nn.Dense(5, 2, dtype="float64")).save(tmp_path / "w.npz")
    _refused(_model(), tmp_path / "w.npz", "float64")


def test_optimizer_state_of_another_kind_is_refused(tmp_path):
    model, opt = _trained()
    model.save(tmp_path / "w.npz", optimizer=opt)
    other = _model()
    before = weights(other)
    with pytest.raises(ValueError, match="optimizer state is for Adam, not SGD"):
        other.load(tmp_path / "w.npz", optimizer=nn.SGD(other.parameters(), lr=0.1))
    assert same_arrays(before, weights(other))


def test_header_is_readable_json(tmp_path):
    _model().save(tmp_path / "w.npz")
    with zipfile.ZipFile(tmp_path / "w.npz") as z:
        names = z.namelist()
    with np.load(tmp_path / "w.npz", allow_pickle=False) as archive:
        header = json.loads(str(archive["__header__"]))
    assert header["mark1_version"] == m1.__version__
    assert header["architecture"]["layers"][0] == {"type": "Dense", "in_features": 3, "out_features": 5}
    assert "param/0.weight.npy" in names


def test_a_failed_save_leaves_the_old_file(tmp_path, monkeypatch):
    model, _ = _trained()
    path = tmp_path / "w.npz"
    model.save(path)
    good = path.read_bytes()

    def crash(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", crash)
    with pytest.raises(OSError, match="disk full"):
        _model().save(path)
    assert path.read_bytes() == good
    assert list(tmp_path.iterdir()) == [path]


def test_saved_file_mode_follows_the_umask(tmp_path):
    model, _ = _trained()
    old = os.umask(0o027)
    try:
        model.save(tmp_path / "w.npz")
    finally:
        os.umask(old)
    assert (tmp_path / "w.npz").stat().st_mode & 0o777 == 0o640     # not mkstemp's 0600
    os.chmod(tmp_path / "w.npz", 0o604)
    model.save(tmp_path / "w.npz")                                   # an overwrite keeps the file's mode
    assert (tmp_path / "w.npz").stat().st_mode & 0o777 == 0o604


def test_next_save_clears_a_killed_saves_temporary(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(dead.stdout)                                      # a process that has exited
    path = tmp_path / "w.npz"
    stale = tmp_path / f".w.npz.{dead_pid}-abc123.tmp"               # what kill -9 during a save leaves
    live = tmp_path / f".w.npz.{os.getppid()}-def456.tmp"            # a save still running elsewhere
    other = tmp_path / f".v.npz.{dead_pid}-abc123.tmp"               # another checkpoint's: not this save's
    for f in (stale, live, other):
        f.write_bytes(b"partial")
    _model().save(path)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([path.name, live.name, other.name])


def test_loading_a_directory_says_it_is_one(tmp_path):
    model = _model()
    before = weights(model)
    with pytest.raises(IsADirectoryError, match=f"checkpoint {tmp_path} is a directory"):
        model.load(tmp_path)
    assert same_arrays(before, weights(model))
