"""Machine code only where it runs: mark1's internal helpers (`_jit.jit_internal`) get none of their own.

Why: numba compiles every function into a library of its own and, at the end of each compile, optimises
that library's whole module (its callees linked in) and emits its machine code. A helper that only other
numba code calls is linked into each caller as LLVM IR, and the caller's module is optimised and emitted
again with it, so the helper's own full-module optimisation and machine code are never used: on the Xeon
that was ~1 s of the first 512^2 matmul (4.8-5.0 s) and of the first fit (5.6-6.3 s), where the GEMM's task,
packers and edge tiles sit three link levels deep (measured per library: `numba.core.codegen` timings).

How: for a library whose name is a registered helper's qualname and that defines no entry point (no
`cpython.`/`cfunc.` wrapper), `_optimize_final_module` does nothing and `_finalize_final_module` only does
its checks; the library is then "pending". It still links into callers as before (its function-level
optimised IR; the caller's module pipeline optimises it with the caller, which measured the same machine
code: instruction counts of the GEMM drivers within 0-2.5%). A pointer asked for a function it defines
(nothing does so today) makes it compile as usual first; the on-disk cache stores a pending library as
bitcode (numba's own 'bitcode' kind), which loads pending again. MARK1_LAZY_CODEGEN=0 turns this off; a
numba whose internals differ from what is patched here is left alone (everything compiles eagerly).
"""

from __future__ import annotations

import os

_HELPERS: set[str] = set()  # qualnames of the functions registered by jit_internal
_PENDING = "_mark1_pending"  # attribute set on a library that has no machine code yet
_LAZY = "_mark1_lazy"  # attribute caching _is_lazy_helper's answer
_ENTRY_PREFIXES = ("cpython.", "cfunc.")
_envs: dict = {}  # environment globals of pending libraries, set once they have machine code
_installed = False


def register(qualname: str) -> None:
    """Mark the functions of this qualname as helpers that only other numba code calls."""
    _HELPERS.add(qualname)


def is_pending(library) -> bool:
    """Whether `library` (a numba code library) has been finalised without machine code of its own."""
    return bool(getattr(library, _PENDING, False))


def _is_lazy_helper(library) -> bool:
    """Decided once per library (both patched steps ask; the scan walks every function of the module)."""
    lazy = getattr(library, _LAZY, None)
    if lazy is None:
        lazy = library.name in _HELPERS and getattr(library, "_compiled_object", None) is None and not any(
            not fn.is_declaration and fn.name.startswith(_ENTRY_PREFIXES) for fn in library._final_module.functions)
        setattr(library, _LAZY, lazy)  # (not ours, or loaded from object code already: compiled as numba does)
    return lazy


def _defines(library, name: str) -> bool:
    try:
        return not library._final_module.get_function(name).is_declaration
    except NameError:
        return False


def install() -> bool:
    """Patch numba's CPU code library once; False (and no change) where disabled or numba differs."""
    global _installed
    if _installed:
        return True
    if os.environ.get("MARK1_LAZY_CODEGEN", "1").strip() == "0":
        return False
    try:
        from numba.core import codegen
        from numba.core.compiler_lock import global_compiler_lock
    except ImportError:
        return False
    library_class, jit_library, jit_codegen = codegen.CPUCodeLibrary, codegen.JITCodeLibrary, codegen.JITCPUCodegen
    needed = ((library_class, ("_optimize_final_module", "_finalize_final_module", "_finalize_dynamic_globals",
                               "_verify_declare_only_symbols", "serialize_using_object_code")),
              (jit_library, ("get_pointer_to_function",)), (jit_codegen, ("set_env",)))
    if not all(hasattr(cls, attr) for cls, attrs in needed for attr in attrs):
        return False
    optimize, finalize = library_class._optimize_final_module, library_class._finalize_final_module
    pointer, serialize, set_env = (jit_library.get_pointer_to_function, library_class.serialize_using_object_code,
                                   jit_codegen.set_env)

    def lazy_optimize(self):
        if not _is_lazy_helper(self):
            optimize(self)

    def lazy_finalize(self):
        if not _is_lazy_helper(self):
            finalize(self)
            return
        self._finalize_dynamic_globals()
        self._verify_declare_only_symbols()
        setattr(self, _PENDING, True)
        self._finalized = True

    def materialise(self):
        """Machine code for a pending library, as numba would have made it at its finalisation."""
        with global_compiler_lock:
            if not is_pending(self):
                return
            setattr(self, _PENDING, False)
            setattr(self, _LAZY, False)
            self._finalized = False
            optimize(self)  # the module optimisation the lazy finalisation skipped, then as numba goes on
            finalize(self)
            engine = self._codegen._engine
            for name in [n for n in _envs if engine.get_global_value_address(n)]:
                set_env(self._codegen, name, _envs.pop(name))

    def lazy_pointer(self, name):
        self._ensure_finalized()
        if is_pending(self):
            if not _defines(self, name):
                return 0  # e.g. the CPython wrapper numba looks up after every compile: there is none
            materialise(self)
        return pointer(self, name)

    def lazy_serialize(self):
        if is_pending(self):
            return (self.name, "bitcode", self._final_module.as_bitcode())
        return serialize(self)

    def deferred_set_env(self, env_name, env):
        if self._engine.get_global_value_address(env_name) == 0:
            _envs[env_name] = env  # its library is pending: no global to write into yet
            return
        set_env(self, env_name, env)

    library_class._optimize_final_module = lazy_optimize
    library_class._finalize_final_module = lazy_finalize
    library_class.serialize_using_object_code = lazy_serialize
    jit_library.get_pointer_to_function = lazy_pointer
    jit_codegen.set_env = deferred_set_env
    _installed = True
    return True
