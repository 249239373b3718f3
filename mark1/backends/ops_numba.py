"""The `numba` backend: hand-written @njit kernels (kernels/cpu/) on host NumPy arrays.

Placeholder until the numba kernels land (issue 4): reports itself unavailable with the reason.
"""

from __future__ import annotations

NAME = "numba"
NEEDS = "numba (installed with mark1)"


def unavailable_reason() -> str | None:
    try:
        import numba  # noqa: F401
    except ImportError as e:
        return f"numba is not importable: {e}"
    return "the numba kernels are not written yet"


def create(**options):
    raise NotImplementedError
