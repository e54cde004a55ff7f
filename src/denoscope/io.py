"""Durable, atomic writes and the file names of RUN/, REP/ and OUT/ in one place."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import socket
import sys
import time
import warnings
from pathlib import Path
from typing import IO, Any, Iterator

import numpy as np

from .errors import Note, OutputError

# RUN/: what `train` writes
RUN_CONFIG = "config.toml"
METRICS = "metrics.jsonl"
WEIGHTS = "model.safetensors"
STATE = "checkpoint.safetensors"
# OUT/ of every analysing stage
OUT_METRICS = "metrics.json"
# REP/: what `represent` writes first
REP_MANIFEST = "manifest.json"
# every folder a stage writes: its one writer, and which stage wrote it
LOCK = ".denoscope.lock"
MARKER = "stage.json"

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


def written_by(folder: str | Path) -> str | None:
    """The stage whose output `folder` holds: its stage.json, else a run's config.toml or a REP's manifest.json."""
    folder = Path(folder)
    marker = folder / MARKER
    if marker.is_file():
        try:
            return str(json.loads(marker.read_text())["stage"])
        except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError):
            raise OutputError(f"{marker} is not a readable stage marker; expected {{\"stage\": NAME, …}}") from None
    if (folder / RUN_CONFIG).is_file():
        return "train"
    if (folder / REP_MANIFEST).is_file():
        return "represent"
    return None


def check_stage(folder: str | Path, stage: str) -> None:
    """Refuse to write `stage`'s output into a folder that another stage wrote."""
    owner = written_by(folder)
    if owner is not None and owner != stage:
        raise OutputError(f"{folder} holds the output of {owner}; {stage} writes into a folder of its own, so choose another one")


def write_marker(folder: str | Path, stage: str) -> None:
    """stage.json: which stage (and which denoscope) wrote this folder, when, on which host and, when run from the CLI,
    by which command line: for the next writer and every reader (the report's provenance)."""
    from . import __version__

    script = Path(sys.argv[0]) if sys.argv and sys.argv[0] else Path()
    cli = script.name == "denoscope" or script.parts[-2:] == ("denoscope", "__main__.py")
    write_json(Path(folder) / MARKER, {"stage": stage, "denoscope": __version__, "argv": ["denoscope", *sys.argv[1:]] if cli else None,
                                       "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "host": socket.gethostname()})


def check_writable(folder: str | Path, what: str = "output folder", stage: str | None = None) -> None:
    """Refuse, before anything is computed, a folder that could not be created or written (or, given the `stage` that
    will write it, one that another stage wrote)."""
    folder = Path(folder)
    if stage is not None:
        check_stage(folder, stage)
    probe = folder
    while not probe.exists():
        if probe.parent == probe:
            break
        probe = probe.parent
    if probe.exists() and not probe.is_dir():
        raise OutputError(f"the {what} {folder} lies under {probe}, which is a file, not a folder")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise OutputError(f"the {what} {folder} cannot be written ({probe} is not writable)")


def holder_of(text: str) -> dict | None:
    """The pid, host and start time a lock file names (None for an empty or unreadable one)."""
    try:
        holder = json.loads(text)
        return holder if {"pid", "host", "since"} <= set(holder) else None
    except (ValueError, TypeError):
        return None


def holder_text(holder: dict) -> str:
    return f"pid {holder['pid']} on {holder['host']} since {holder['since']}"


@contextlib.contextmanager
def folder_lock(folder: str | Path, what: str = "output folder") -> Iterator[Path]:
    """One writer per folder: an advisory lock (flock) on FOLDER/.denoscope.lock naming its holder (pid, host, since),
    held until the block ends and then removed. A second writer is refused in one sentence that names the holder; a lock
    file left by a process that died is taken over with a note. A folder this call made is removed again if the block
    wrote nothing into it, so a refused command leaves the file system as it found it."""
    folder = Path(folder)
    created = not folder.exists()
    ensure_dir(folder, what)
    path = folder / LOCK
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = holder_of(os.pread(fd, 4096, 0).decode(errors="replace"))
            who = holder_text(holder) if holder else "another process"
            raise OutputError(f"the {what} {folder} is being written by {who}; wait for it to finish or stop it") from None
        if not path.exists() or os.fstat(fd).st_ino != path.stat().st_ino:
            raise OutputError(f"the {what} {folder} was released by another writer just now; run the command again")
        left = holder_of(os.pread(fd, 4096, 0).decode(errors="replace"))
        if left is not None:
            warnings.warn(f"took over the lock of {folder} left by {holder_text(left)}, which no longer holds it", Note, stacklevel=3)
        me = {"pid": os.getpid(), "host": socket.gethostname(), "since": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(me).encode(), 0)
        try:
            yield path
        finally:
            path.unlink(missing_ok=True)
            if created and not any(folder.iterdir()):
                folder.rmdir()
    finally:
        os.close(fd)


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
