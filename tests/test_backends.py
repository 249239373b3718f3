"""The backend switch: names, 'auto', the env variable (strict), scoped switching and array ownership."""

from __future__ import annotations

import logging
import subprocess
import sys

import numpy as np
import pytest

import mark1 as m1
from mark1.backends import registry


def test_numpy_is_always_available():
    assert "numpy" in m1.available_backends()
    assert m1.available_backends()[-1] == "numpy"  # best first, the reference last


def test_unknown_name_lists_the_valid_ones():
    with pytest.raises(ValueError, match=r"unknown backend 'tpu'; valid names are 'cuda', 'numba', 'numpy', 'auto'"):
        m1.use("tpu")


def test_unusable_backend_raises_with_the_reason():
    for name in ("cuda", "numba"):
        reason = registry.unavailable_reason(name)
        if reason is None:
            continue
        with pytest.raises(m1.BackendUnavailable, match=f"backend '{name}' is unavailable: "):
            m1.use(name)


def test_cuda_reason_names_what_is_missing():
    reason = registry.unavailable_reason("cuda")
    if reason is None:
        pytest.skip("a CUDA device (or the simulator) is usable here")
    assert any(word in reason for word in ("CuPy", "driver", "device", "not written"))


def test_scoped_switch_restores_the_previous_backend():
    m1.use("numpy")
    with m1.backend("auto") as inner:
        assert m1.get_backend() is inner
        assert inner.name == m1.available_backends()[0]
    assert m1.get_backend().name == "numpy"


def test_auto_logs_its_choice_once(caplog):
    registry._auto_logged = False
    with caplog.at_level(logging.INFO, logger="mark1"):
        m1.use("auto")
        m1.use("auto")
    messages = [r.getMessage() for r in caplog.records if "chose" in r.getMessage()]
    assert len(messages) == 1
    assert repr(m1.available_backends()[0]) in messages[0]


def _run(code: str, env_value: str) -> subprocess.CompletedProcess:
    import os

    env = {**os.environ, "MARK1_BACKEND": env_value}
    env.pop("NUMBA_ENABLE_CUDASIM", None)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)


def test_env_variable_sets_the_default():
    done = _run("import mark1 as m1; print(m1.get_backend().name)", "numpy")
    assert done.stdout.strip() == "numpy", done.stderr


def test_env_variable_is_strict():
    if registry.unavailable_reason("cuda") is None:
        pytest.skip("cuda is usable here")
    done = _run("import mark1 as m1; m1.matmul(m1.asarray([[1.0]]), m1.asarray([[1.0]]))", "cuda")
    assert done.returncode != 0
    assert "MARK1_BACKEND='cuda' asks for a backend that cannot run here" in done.stderr


def test_env_variable_with_an_unknown_name():
    done = _run("import mark1 as m1; m1.get_backend()", "gpu")
    assert "MARK1_BACKEND='gpu': unknown backend 'gpu'" in done.stderr


def test_foreign_arrays_are_refused_not_moved(backend):
    class FakeDeviceArray:  # stands in for a CuPy array on a CPU backend (or a NumPy one on the GPU)
        shape, ndim, dtype = (2, 2), 2, np.dtype("float32")

    own = m1.asarray(np.eye(2))
    with pytest.raises(TypeError, match=r"matmul: b is a .*FakeDeviceArray, but the current backend is"):
        m1.matmul(own, FakeDeviceArray())
    with pytest.raises(TypeError, match="move it explicitly with m1.asarray"):
        m1.sigmoid([1.0, 2.0])


def test_asarray_and_to_numpy_round_trip(backend, rng):
    host = rng.standard_normal((3, 4))
    on_backend = m1.asarray(host)
    assert backend.owns(on_backend) and on_backend.dtype == np.float32
    np.testing.assert_array_equal(m1.to_numpy(on_backend), host.astype(np.float32))
    assert m1.asarray(host, dtype="float64").dtype == np.float64
