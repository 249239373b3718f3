"""Where mark1 keeps compiled kernels: the user's cache directory, never the installed package.

    cache_root()        platformdirs.user_cache_dir("mark1") (~/.cache/mark1 on Linux); MARK1_CACHE_DIR overrides
    kernel_cache_dir()  cache_root() / "kernels-<version>-<isa>-<hash>": one folder per mark1 version, value of
                        MARK1_ISA and hash of every .py and .cu under mark1/kernels

numba caches a `cache=True` kernel next to its source (`__pycache__`), and invalidates it only when that one
file changes. Both are wrong for mark1: an installed package may be read-only, a pip uninstall leaves the
cache files behind (an orphan `site-packages/mark1/` then shadows the next install as a namespace package),
and a kernel that inlines a helper from another file (expmath.py's exp) would load stale machine code after
that helper changed. `install_numba_locator()` (called by mark1/kernels/cpu/_jit.py before any kernel is
decorated) therefore puts a locator first in numba's list that claims mark1's own source files and sends their
cache to `kernel_cache_dir() / "numba"`; since the folder name changes with any kernel source, a stale cache
can never load. It claims nothing else, so other libraries' numba caches stay where numba puts them. An explicit
NUMBA_CACHE_DIR still decides the location (mark1's kernels go to NUMBA_CACHE_DIR/mark1/<the same key>), and
NUMBA_CACHE_LOCATOR_CLASSES turns this locator off.

`mark1 cache` prints the location and size; `mark1 cache clear` deletes the kernel folders (every version's)
under cache_root(), and leaves NUMBA_CACHE_DIR, the user's own folder, alone.
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import os
import shutil
import tempfile
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
KERNELS_DIR = PACKAGE_DIR / "kernels"
KERNEL_DIR_PREFIX = "kernels-"   # `mark1 cache clear` deletes only folders named like this


def cache_root() -> Path:
    """MARK1_CACHE_DIR if set, else the platform's per-user cache folder for mark1 (not created here)."""
    override = os.environ.get("MARK1_CACHE_DIR")
    if override:
        return Path(override).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("mark1", appauthor=False))


@functools.lru_cache(maxsize=1)
def kernel_sources_hash() -> str:
    """sha256 over the path and bytes of every .py and .cu under mark1/kernels (about 30 small files)."""
    digest = hashlib.sha256()
    for path in sorted(p for p in KERNELS_DIR.rglob("*") if p.suffix in (".py", ".cu") and p.is_file()):
        digest.update(path.relative_to(KERNELS_DIR).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def _version() -> str:
    try:
        from mark1 import __version__
    except ImportError:   # mark1/__init__ still importing: cannot happen for the kernels, which it does not import
        return "unknown"
    return __version__


def kernel_cache_dir() -> Path:
    """The folder for this exact set of kernel sources, version and MARK1_ISA (not created here)."""
    isa = os.environ.get("MARK1_ISA", "").strip().lower() or "native"
    return cache_root() / f"{KERNEL_DIR_PREFIX}{_version()}-{isa}-{kernel_sources_hash()}"


def numba_cache_dir() -> Path | None:
    """Where numba writes mark1's kernels: kernel_cache_dir()/numba, or the same keyed folder inside an explicit
    NUMBA_CACHE_DIR (its location wins, the key still applies); None under NUMBA_CACHE_LOCATOR_CLASSES."""
    import numba

    if getattr(numba.config, "CACHE_LOCATOR_CLASSES", None):
        return None
    if numba.config.CACHE_DIR:
        return Path(numba.config.CACHE_DIR) / "mark1" / kernel_cache_dir().name
    return kernel_cache_dir() / "numba"


def _is_mark1_source(py_file: str) -> bool:
    path = Path(py_file).resolve()
    return path.is_relative_to(PACKAGE_DIR) or path.is_relative_to(cache_root().resolve())


@functools.lru_cache(maxsize=1)
def _locator_class():
    from numba.core import caching

    in_tree = getattr(caching, "InTreeCacheLocator", None) or caching._InTreeCacheLocator   # numba < 0.66 name

    class Mark1CacheLocator(in_tree):
        """numba's in-tree locator (source stamp, disambiguator) with the cache folder moved out of the tree."""

        def __init__(self, py_func, py_file, base: Path):
            super().__init__(py_func, py_file)
            self._cache_path = str(base / self.get_suitable_cache_subpath(py_file))

        @classmethod
        def from_function(cls, py_func, py_file):
            base = numba_cache_dir()
            if base is None or not os.path.exists(py_file) or not _is_mark1_source(py_file):
                return None
            # a read-only home (some containers) falls back to the temp folder, never to the package
            fallback = Path(tempfile.gettempdir()) / f"mark1-{os.getuid() if hasattr(os, 'getuid') else 'user'}"
            for folder in (base, fallback / base.parent.name / "numba"):
                locator = cls(py_func, py_file, folder)
                try:
                    locator.ensure_cache_path()
                except OSError:
                    continue
                return locator
            return None

    return Mark1CacheLocator


def install_numba_locator() -> None:
    """Put mark1's locator first in numba's list (idempotent): call before any kernel is decorated."""
    from numba.core import caching

    impl = getattr(caching, "CacheImpl", None) or caching._CacheImpl   # numba < 0.66 name
    locator = _locator_class()
    if locator not in impl._locator_classes:
        impl._locator_classes.insert(0, locator)


# --- `mark1 cache` / `mark1 cache clear` -----------------------------------------------------------------

def folder_size(path: Path) -> int:
    """Bytes in the files under path (0 when it does not exist)."""
    if not path.is_dir():
        return 0
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def kernel_folders() -> list[Path]:
    root = cache_root()
    if not root.is_dir():
        return []
    return sorted(p for p in root.iterdir() if p.is_dir() and p.name.startswith(KERNEL_DIR_PREFIX))


def describe() -> dict:
    """The facts `mark1 info` and `mark1 cache` print."""
    folders = kernel_folders()
    return {
        "root": str(cache_root()),
        "current": str(kernel_cache_dir()),
        "bytes": sum(folder_size(p) for p in folders),
        "folders": len(folders),
        "numba": str(numba_cache_dir() or "NUMBA_CACHE_LOCATOR_CLASSES is set: numba's locators decide"),
    }


def human_bytes(n: float) -> str:
    for unit in ("B", "kB", "MB"):
        if n < 1000:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} GB"


def render(facts: dict) -> str:
    return (f"cache: {facts['root']} ({human_bytes(facts['bytes'])} in {facts['folders']} kernel folder(s))\n"
            f"  this version's kernels: {facts['current']}\n  numba's cache of them: {facts['numba']}")


def clear() -> tuple[int, int]:
    """Delete every kernel folder under cache_root(); (folders, bytes) removed. Nothing else there is touched."""
    folders = kernel_folders()
    freed = sum(folder_size(p) for p in folders)
    for folder in folders:
        shutil.rmtree(folder)
    return len(folders), freed


def _run(args: argparse.Namespace) -> int:
    if args.cache_command == "clear":
        count, freed = clear()
        print(f"removed {count} kernel folder(s), {human_bytes(freed)}, from {cache_root()}")
        return 0
    print(render(describe()))
    return 0


def register(subparsers) -> None:
    parser = subparsers.add_parser("cache", help="where compiled kernels are cached, and `clear` to empty it",
                                   description="Print the kernel cache's location and size; `mark1 cache clear` "
                                               "deletes the compiled kernels (they are rebuilt on next use).")
    sub = parser.add_subparsers(dest="cache_command", metavar="{clear}")
    sub.add_parser("clear", help="delete every compiled kernel folder under the cache directory")
    parser.set_defaults(run=_run)
