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


@pytest.mark.parametrize("name", ["cuda", "numba"])
def test_unusable_backend_raises_with_the_reason(monkeypatch, name):
    """Made unusable by a stub, so the refusal is checked on machines where every backend runs too."""
    monkeypatch.setattr(registry.backend_module(name), "unavailable_reason", lambda: "stub: the library is missing")
    monkeypatch.setattr(registry, "_created", {})  # a backend created earlier must not be handed out
    with pytest.raises(m1.BackendUnavailable, match=f"backend '{name}' is unavailable: stub: the library is missing"):
        m1.use(name)
    assert name not in m1.available_backends()


def test_cuda_reason_names_what_is_missing(monkeypatch):
    from mark1.backends import ops_cuda

    real = ops_cuda.gpu_unavailable_reason()
    assert real is None or any(word in real for word in ("CuPy", "driver", "device"))
    monkeypatch.setitem(sys.modules, "cupy", None)  # `import cupy` now fails, as without the package
    assert ops_cuda.gpu_unavailable_reason() == "CuPy is not installed (pip install 'mark1[cuda]')"


@pytest.mark.parametrize("names", ["numpy,tpu", "cuda"])
def test_an_unusable_name_in_mark1_test_backends_is_an_error(names):
    """tests/conftest.py must refuse a name it cannot test, not drop it and pass an empty per-backend suite."""
    import os

    env = {**os.environ, "MARK1_TEST_BACKENDS": names}
    env.pop("NUMBA_ENABLE_CUDASIM", None)  # the subprocess runs without the simulator: cuda needs a GPU there
    gpu = registry.backend_module("cuda").gpu_unavailable_reason() is None
    wanted = [n.strip() for n in names.split(",")]
    bad = [n for n in wanted if n not in registry.PRIORITY or (n == "cuda" and not gpu)
           or (n != "cuda" and registry.unavailable_reason(n) is not None)]
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--co", "-k", "numpy_is",
                           __file__], capture_output=True, text=True, env=env, timeout=120)
    output = done.stdout + done.stderr
    if not bad:
        assert done.returncode == 0, output
        return
    assert done.returncode != 0
    assert f"MARK1_TEST_BACKENDS={names!r}: " in output
    for name in bad:
        assert f"{name!r} is not a backend" in output or f"backend {name!r} cannot run here: " in output, output


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
