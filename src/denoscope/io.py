"""Durable, atomic writes and the file names of RUN/, REP/ and OUT/ in one place."""

from __future__ import annotations

import contextlib
import json
import os
import re
from pathlib import Path
from typing import IO, Any, Iterator

import numpy as np

from .errors import OutputError

# RUN/: what `train` writes
RUN_CONFIG = "config.toml"
METRICS = "metrics.jsonl"
WEIGHTS = "model.safetensors"
STATE = "checkpoint.safetensors"
# OUT/ of every analysing stage
OUT_METRICS = "metrics.json"

TMP = re.compile(r"^\.(?P<name>.+)\.tmp(?P<pid>\d+)$")


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_temps(folder: Path) -> list[Path]:
    """Delete temporary files that killed writers left in `folder` (their process is gone)."""
    removed = []
    if folder.is_dir():
        for p in folder.iterdir():
            m = TMP.match(p.name)
            if m and int(m["pid"]) != os.getpid() and not pid_alive(int(m["pid"])):
                p.unlink(missing_ok=True)
                removed.append(p)
    return removed


def ensure_dir(folder: str | Path, what: str = "output folder") -> Path:
    """Create `folder` (and parents) or say in one sentence why it cannot be written."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise OutputError(f"cannot create the {what} {folder} ({e.strerror or e})") from e
    if not os.access(folder, os.W_OK | os.X_OK):
        raise OutputError(f"the {what} {folder} is not writable")
    return folder


def check_writable(folder: str | Path, what: str = "output folder") -> None:
    """Refuse, before anything is computed, a folder that could not be created or written."""
    folder = Path(folder)
    probe = folder
    while not probe.exists():
        if probe.parent == probe:
            break
        probe = probe.parent
    if probe.exists() and not probe.is_dir():
        raise OutputError(f"the {what} {folder} lies under {probe}, which is a file, not a folder")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise OutputError(f"the {what} {folder} cannot be written ({probe} is not writable)")


def fsync_dir(folder: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@contextlib.contextmanager
def atomic_write(path: str | Path, mode: str = "wb") -> Iterator[IO[Any]]:
    """Write to a hidden temporary sibling, flush and fsync it, then rename it over `path`; no reader sees half a file."""
    path = Path(path)
    ensure_dir(path.parent)
    tmp = atomic_path(path)
    try:
        with open(tmp, mode) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def atomic_path(path: Path) -> Path:
    """The temporary name a write of `path` goes to before its rename (hidden, tagged with this process)."""
    return path.with_name(f".{path.name}.tmp{os.getpid()}")


@contextlib.contextmanager
def atomic_file(path: str | Path) -> Iterator[Path]:
    """For writers that take a file name (safetensors, matplotlib): the temporary path, fsynced and renamed after."""
    path = Path(path)
    ensure_dir(path.parent)
    tmp = atomic_path(path)
    try:
        yield tmp
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def write_text(path: str | Path, text: str) -> None:
    with atomic_write(path, "w") as f:
        f.write(text)


def finite(value: Any) -> Any:
    """JSON-safe: non-finite floats become null, so every JSON reader (browsers too) can open the file."""
    if isinstance(value, float):
        return value if np.isfinite(value) else None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite(v) for v in value]
    return value


def write_json(path: str | Path, value: Any) -> None:
    write_text(path, json.dumps(finite(value), indent=2, allow_nan=False) + "\n")


def write_npz(path: str | Path, **arrays: np.ndarray) -> None:
    with atomic_write(path) as f:
        np.savez(f, **arrays)


def write_npy(path: str | Path, array: np.ndarray) -> None:
    with atomic_write(path) as f:
        np.save(f, array, allow_pickle=False)
