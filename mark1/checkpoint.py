"""Checkpoints: a model's weights (and optionally optimizer and RNG state) in one .npz, never pickled.

Layout: "__header__" holds JSON (format, mark1 version, architecture, parameter names/shapes/dtypes,
optimizer hyperparameters, RNG state); "param/<name>" and "optim/<name>/<state>" hold host arrays. Saving
writes a temporary file beside the target and renames it, so a crash never leaves a torn checkpoint (the
next save of that path deletes a killed save's temporary); the file gets the mode an ordinary file would.
Loading checks everything before it changes anything.
"""

from __future__ import annotations

import glob
import json
import os
import stat
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from mark1 import rng as global_rng
from mark1.ops import asarray, to_numpy

FORMAT = "mark1-checkpoint"
FORMAT_VERSION = 1


def _header(model, optimizer, include_rng: bool) -> dict[str, Any]:
    from mark1 import __version__

    header = {
        "format": FORMAT, "format_version": FORMAT_VERSION, "mark1_version": __version__,
        "architecture": model.config(),
        "parameters": {name: {"shape": list(p.shape), "dtype": p.dtype.name} for name, p in model.named_parameters()},
        "optimizer": None, "rng": None,
    }
    if optimizer is not None:
        header["optimizer"] = {"type": type(optimizer).__name__, "steps": optimizer.steps,
                               "hyperparameters": optimizer.hyperparameters()}
    if include_rng:
        header["rng"] = global_rng.generator().bit_generator.state
    return header


def save(model, path: str | os.PathLike, optimizer=None, include_rng: bool = False) -> None:
    """Write model (+ optimizer state, + the global RNG state if include_rng) to `path` atomically."""
    path = Path(path)
    arrays = {f"param/{name}": to_numpy(p.data) for name, p in model.named_parameters()}
    if optimizer is not None:
        names = {id(p): name for name, p in model.named_parameters()}
        for p, state in zip(optimizer.params, optimizer.state, strict=True):
            if id(p) not in names:
                raise ValueError("save: the optimizer holds parameters that are not this model's")
            for key, value in state.items():
                arrays[f"optim/{names[id(p)]}/{key}"] = to_numpy(value)
    arrays["__header__"] = np.array(json.dumps(_header(model, optimizer, include_rng)))
    folder = path.parent if str(path.parent) else Path(".")
    _remove_stale_temporaries(path)
    # the temporary's name carries this process's id, so a later save can tell a dead writer's leftover
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}-", suffix=".tmp", dir=folder)
    try:
        os.chmod(tmp, _mode_for(path))   # mkstemp makes it 0600; the checkpoint is an ordinary file
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _mode_for(path: Path) -> int:
    """The mode `open(path, "w")` would leave: the existing file's, else 0666 minus the umask."""
    try:
        return stat.S_IMODE(path.stat().st_mode)
    except OSError:
        return 0o666 & ~_umask()


def _umask() -> int:
    try:   # Linux states it without changing it (os.umask can only be read by setting it)
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    current = os.umask(0o022)
    os.umask(current)
    return current


def _remove_stale_temporaries(path: Path) -> None:
    """Delete `.name.<pid>-*.tmp` files beside path whose writing process is gone (a killed save's leftovers).

    A temporary of a live process (another save of the same path, in this or another process) is kept.
    """
    for tmp in path.parent.glob(f".{glob.escape(path.name)}.*.tmp"):
        pid_text = tmp.name[len(path.name) + 2:].split("-", 1)[0]
        if pid_text.isdigit() and not _process_alive(int(pid_text)):
            tmp.unlink(missing_ok=True)


def _process_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:   # exists but belongs to someone else
        return True
    return True


def _read(path: Path) -> tuple[dict, dict[str, np.ndarray]]:
    if path.is_dir():
        raise IsADirectoryError(f"checkpoint {path} is a directory, not a checkpoint file: give the .npz inside it")
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {name: archive[name] for name in archive.files}
        header = json.loads(str(arrays.pop("__header__")))
    except KeyError:
        raise ValueError(f"{path}: not a mark1 checkpoint (no __header__ entry)") from None
    except (ValueError, OSError, EOFError, zipfile.BadZipFile, json.JSONDecodeError) as e:
        why = "it holds pickled objects, which mark1 never loads" if "pickle" in str(e) else f"{e}"
        raise ValueError(f"{path}: cannot read checkpoint: {why}") from None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise ValueError(f"{path}: not a mark1 checkpoint (header format is {header.get('format')!r})")
    return header, arrays


def _first_difference(path: Path, saved: Any, current: Any, where: str = "architecture") -> None:
    if isinstance(saved, dict) and isinstance(current, dict):
        for key in [*current, *(k for k in saved if k not in current)]:
            if key not in saved or key not in current:
                raise ValueError(f"{path}: {where}.{key} is {'missing in the file' if key not in saved else 'extra'}"
                                 " compared with this model")
            _first_difference(path, saved[key], current[key], f"{where}.{key}")
    elif isinstance(saved, list) and isinstance(current, list):
        if len(saved) != len(current):
            raise ValueError(f"{path}: {where} has {len(saved)} entries in the file but {len(current)} in this model")
        for i, (s, c) in enumerate(zip(saved, current, strict=True)):
            _first_difference(path, s, c, f"{where}[{i}]")
    elif saved != current:
        raise ValueError(f"{path}: {where} is {saved!r} in the file but {current!r} in this model")


def load(model, path: str | os.PathLike, optimizer=None) -> None:
    """Load weights (and optimizer/RNG state if saved) into `model`; on any mismatch nothing changes."""
    path = Path(path)
    header, arrays = _read(path)
    _first_difference(path, header.get("architecture"), model.config())
    new_values = {}
    for name, p in model.named_parameters():
        key = f"param/{name}"
        if key not in arrays:
            raise ValueError(f"{path}: parameter {name} is missing")
        arr = arrays[key]
        if tuple(arr.shape) != p.shape or arr.dtype != p.dtype:
            raise ValueError(f"{path}: parameter {name} is {arr.dtype}{list(arr.shape)} in the file but "
                             f"{p.dtype}{list(p.shape)} in this model")
        new_values[name] = arr
    new_state = _optimizer_state(path, header, arrays, model, optimizer) if optimizer is not None else None
    # everything checked: now change the model
    for name, p in model.named_parameters():
        p.data = asarray(new_values[name], dtype=p.dtype)
    if new_state is not None:
        steps, state = new_state
        optimizer.steps, optimizer.state = steps, state
    if header.get("rng") is not None:
        generator = global_rng.generator()
        generator.bit_generator.state = header["rng"]


def _optimizer_state(path: Path, header: dict, arrays: dict, model, optimizer) -> tuple[int, list[dict]]:
    saved = header.get("optimizer")
    if saved is None:
        raise ValueError(f"{path}: holds no optimizer state (save with model.save(path, optimizer=opt))")
    if saved["type"] != type(optimizer).__name__:
        raise ValueError(f"{path}: optimizer state is for {saved['type']}, not {type(optimizer).__name__}")
    names = {id(p): name for name, p in model.named_parameters()}
    state = []
    for p, current in zip(optimizer.params, optimizer.state, strict=True):
        entry = {}
        for key in current:
            arr = arrays.get(f"optim/{names.get(id(p))}/{key}")
            if arr is None or tuple(arr.shape) != p.shape or arr.dtype != p.dtype:
                raise ValueError(f"{path}: optimizer state {names.get(id(p))}/{key} is missing or has the wrong "
                                 "shape/dtype")
            entry[key] = asarray(arr, dtype=p.dtype)
        state.append(entry)
    return int(saved["steps"]), state
