"""Shared fixtures: `backend` runs a test once per usable backend (or those in MARK1_TEST_BACKENDS).

Tests using `backend` are marked `per_backend` automatically; the CUDA-simulator step of .ci/run runs
exactly those (plus `cudasim` tests) with MARK1_TEST_BACKENDS=cuda. `gpu` tests skip without a real GPU
and `cudasim` tests skip unless NUMBA_ENABLE_CUDASIM=1 was set before Python started.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

import mark1 as m1
from mark1.backends import PRIORITY, unavailable_reason


def _test_backends() -> list[str]:
    """Every usable backend; or exactly those MARK1_TEST_BACKENDS names, each of which must be able to run here
    (a typo or a broken backend dropped silently would skip the whole per-backend suite and pass)."""
    wanted = os.environ.get("MARK1_TEST_BACKENDS", "")
    names = [n.strip() for n in wanted.split(",") if n.strip()]
    if not names:
        return [n for n in PRIORITY if unavailable_reason(n) is None]
    problems = [f"{n!r} is not a backend (valid names: {', '.join(PRIORITY)})" if n not in PRIORITY
                else f"backend {n!r} cannot run here: {unavailable_reason(n)}"
                for n in names if n not in PRIORITY or unavailable_reason(n) is not None]
    if problems:
        raise pytest.UsageError(f"MARK1_TEST_BACKENDS={wanted!r}: " + "; ".join(problems)
                                + " (unset it to test every usable backend)")
    return names


TEST_BACKENDS = _test_backends()
SIMULATOR = os.environ.get("NUMBA_ENABLE_CUDASIM") == "1"


def pytest_configure(config):
    config.addinivalue_line("markers", "per_backend: parametrised over the usable backends (automatic)")


def pytest_collection_modifyitems(config, items):
    gpu_reason = m1.backends.backend_module("cuda").gpu_unavailable_reason() if not SIMULATOR else "simulator"
    for item in items:
        if "backend" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.per_backend)
        if item.get_closest_marker("cudasim") and not SIMULATOR:
            item.add_marker(pytest.mark.skip(reason="needs NUMBA_ENABLE_CUDASIM=1 (the simulator step of .ci/run)"))
        if item.get_closest_marker("gpu") and gpu_reason:
            item.add_marker(pytest.mark.skip(reason=f"needs a real CUDA GPU: {gpu_reason}"))


@pytest.fixture(params=TEST_BACKENDS)
def backend(request):
    """The backend under test, made current for the test's duration."""
    with m1.backend(request.param) as be:
        yield be


@pytest.fixture
def rng():
    return np.random.default_rng(1234)
