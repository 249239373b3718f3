"""Find backends by name, choose one ('auto' or MARK1_BACKEND) and hold the current one.

A backend is the module `mark1.backends.ops_<name>` with NAME, NEEDS, unavailable_reason() and
create(**options); nothing outside this file branches on a backend's name.
"""

from __future__ import annotations

import importlib
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from types import ModuleType

from mark1.backends.base import Backend
from mark1.errors import BackendUnavailable

log = logging.getLogger("mark1")

PRIORITY = ("cuda", "numba", "numpy")  # 'auto' picks the first usable one
CHOICES = (*PRIORITY, "auto")
ENV_VAR = "MARK1_BACKEND"

_current: Backend | None = None
_created: dict[tuple, Backend] = {}
_auto_logged = False


def _check_name(name: str) -> None:
    if name not in CHOICES:
        raise ValueError(f"unknown backend {name!r}; valid names are {', '.join(map(repr, CHOICES))}")


def backend_module(name: str) -> ModuleType:
    _check_name(name)
    return importlib.import_module(f"mark1.backends.ops_{name}")


def unavailable_reason(name: str) -> str | None:
    """None if backend `name` can run here, else the reason it cannot (never raises for a known name)."""
    try:
        return backend_module(name).unavailable_reason()
    except ValueError:
        raise
    except Exception as e:  # a broken optional dependency must not break the whole library
        return f"{type(e).__name__}: {e}"


def available_backends() -> list[str]:
    """The backends usable on this machine, best first, e.g. ['numba', 'numpy']."""
    return [name for name in PRIORITY if unavailable_reason(name) is None]


def _create(name: str, options: dict) -> Backend:
    key = (name, tuple(sorted(options.items())))
    if key not in _created:
        reason = unavailable_reason(name)
        if reason is not None:
            raise BackendUnavailable(f"backend {name!r} is unavailable: {reason}")
        _created[key] = backend_module(name).create(**options)
    return _created[key]


def _choose_auto(options: dict) -> Backend:
    global _auto_logged
    skipped = []
    for name in PRIORITY:
        reason = unavailable_reason(name)
        if reason is None:
            chosen = _create(name, options)
            if not _auto_logged:
                why = "; ".join(f"skipped {n}: {r}" for n, r in skipped) or "it is the best backend"
                log.info("mark1: backend 'auto' chose %r (%s)", name, why)
                _auto_logged = True
            return chosen
        skipped.append((name, reason))
    raise BackendUnavailable("no backend is usable: " + "; ".join(f"{n}: {r}" for n, r in skipped))


def resolve(name: str = "auto", **options) -> Backend:
    """The Backend for `name` without making it current. Unknown name: ValueError; unusable: BackendUnavailable."""
    _check_name(name)
    if name == "auto":
        return _choose_auto(options)
    return _create(name, options)


def use(name: str = "auto", **options) -> Backend:
    """Make `name` the current backend for every op and layer; returns it."""
    global _current
    _current = resolve(name, **options)
    return _current


@contextmanager
def backend(name: str = "auto", **options) -> Iterator[Backend]:
    """`with m1.backend("numpy"): ...` runs the block on that backend and restores the previous one."""
    global _current
    previous = _current
    _current = resolve(name, **options)
    try:
        yield _current
    finally:
        _current = previous


def get_backend() -> Backend:
    """The current backend; the first call picks MARK1_BACKEND (default 'auto').

    An explicit MARK1_BACKEND is strict: if that backend cannot run here, this raises instead of falling back.
    """
    global _current
    if _current is None:
        name = os.environ.get(ENV_VAR, "auto").strip().lower() or "auto"
        try:
            _current = resolve(name)
        except ValueError as e:
            raise ValueError(f"{ENV_VAR}={name!r}: {e}") from None
        except BackendUnavailable as e:
            raise BackendUnavailable(f"{ENV_VAR}={name!r} asks for a backend that cannot run here: {e}") from None
    return _current
