"""Exceptions users catch by name."""


class BackendUnavailable(RuntimeError):
    """A known backend cannot run on this machine; the message says why (no CuPy, no driver, ...)."""
