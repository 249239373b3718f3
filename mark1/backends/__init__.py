"""The backend switch: see registry.py (choosing) and base.py (what a backend provides)."""

from mark1.backends.base import ACTIVATIONS, OP_NAMES, Backend
from mark1.backends.registry import (
    CHOICES,
    PRIORITY,
    available_backends,
    backend,
    backend_module,
    get_backend,
    resolve,
    unavailable_reason,
    use,
)

__all__ = [
    "ACTIVATIONS", "CHOICES", "OP_NAMES", "PRIORITY", "Backend", "available_backends", "backend",
    "backend_module", "get_backend", "resolve", "unavailable_reason", "use",
]
