"""REP/: a manifest and one preallocated .npy per block, written row by row (memory stays flat), read memory-mapped.

REP/manifest.json       what was extracted, from which model (sha256) and images, and the σ list
REP/means/BLOCK.npy     N×S×C float32: ā_BLOCK per image and σ, averaged over noise draws (φ = means/mid.npy)
REP/done.npy            N uint8: 1 where an image's rows are complete (resume skips them)
REP/labels.npy, REP/factors/NAME.npy, REP/maps/BLOCK.npy (activation maps of the first images, one draw)
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConfigError, DataError
from ..io import ensure_dir, write_json, write_npy

MANIFEST = "manifest.json"
DONE = "done.npy"


def block_file(rep: Path, block: str) -> Path:
    return rep / "means" / f"{block}.npy"


def map_file(rep: Path, block: str) -> Path:
    return rep / "maps" / f"{block}.npy"


class RowFile:
    """An .npy file of a fixed shape, created once at full size; rows written with pwrite, so nothing is mapped."""

    def __init__(self, path: Path, shape: tuple[int, ...], dtype: Any = np.float32):
        self.path, self.shape, self.dtype = path, tuple(shape), np.dtype(dtype)
        if not path.exists():
            ensure_dir(path.parent)
            np.lib.format.open_memmap(path, mode="w+", dtype=self.dtype, shape=self.shape).flush()
        array = np.load(path, mmap_mode="r", allow_pickle=False)
        if array.shape != self.shape or array.dtype != self.dtype:
            raise DataError(f"{path} holds {array.dtype} {array.shape}; expected {self.dtype} {self.shape}")
        self.offset = array.offset
        self.row_bytes = int(np.prod(self.shape[1:], dtype=np.int64)) * self.dtype.itemsize
        del array
        self.fd = os.open(path, os.O_RDWR)

    def write(self, rows: np.ndarray, values: np.ndarray) -> None:
        values = np.ascontiguousarray(values, dtype=self.dtype).reshape(len(rows), -1)
        for r, v in zip(rows, values):
            os.pwrite(self.fd, v.tobytes(), self.offset + int(r) * self.row_bytes)

    def sync(self) -> None:
        os.fsync(self.fd)

    def close(self) -> None:
        os.close(self.fd)


class Representation:
    """A REP/ folder read lazily: arrays by (block, σ), labels and factors, and the manifest's facts."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        file = self.path / MANIFEST
        if not file.is_file():
            raise DataError(f"{self.path} holds no {MANIFEST}; expected a folder written by `denoscope represent`")
        try:
            self.manifest = json.loads(file.read_text())
        except json.JSONDecodeError as e:
            raise DataError(f"{file} is not valid JSON ({e})") from e
        self.sigmas = np.asarray(self.manifest["sigmas"], dtype=np.float64)
        self.blocks: dict[str, int] = self.manifest["blocks"]
        self.n = int(self.manifest["images"])

    @property
    def complete(self) -> bool:
        return bool(np.load(self.path / DONE, mmap_mode="r").all())

    def check_complete(self) -> None:
        done = np.load(self.path / DONE, mmap_mode="r")
        if not done.all():
            raise DataError(f"{self.path} is incomplete ({int(done.sum())} of {len(done)} images); run `denoscope represent` again to finish it")

    def means(self, block: str) -> np.ndarray:
        """N×S×C memory-mapped ā of `block` (averaged over draws) at every σ."""
        if block not in self.blocks:
            raise ConfigError(f"{self.path} holds blocks {', '.join(self.blocks)}; not {block!r}")
        return np.load(block_file(self.path, block), mmap_mode="r", allow_pickle=False)

    def sigma_index(self, sigma: float) -> int:
        """The index of the extracted σ nearest to `sigma`."""
        return int(np.argmin(np.abs(self.sigmas - sigma)))

    def at(self, block: str, sigma: float) -> np.ndarray:
        """N×C ā of `block` at the extracted σ nearest to `sigma`."""
        return np.asarray(self.means(block)[:, self.sigma_index(sigma)])

    def phi(self, sigma: float) -> np.ndarray:
        return self.at("mid", sigma)

    @property
    def labels(self) -> np.ndarray | None:
        p = self.path / "labels.npy"
        return np.load(p, allow_pickle=False) if p.exists() else None

    @property
    def class_names(self) -> list[str] | None:
        return self.manifest.get("class_names")

    @property
    def factors(self) -> dict[str, np.ndarray] | None:
        names = self.manifest.get("factors")
        return {n: np.load(self.path / "factors" / f"{n}.npy", allow_pickle=False) for n in names} if names else None

    def maps(self) -> np.ndarray | None:
        info = self.manifest.get("maps")
        return np.load(map_file(self.path, info["block"]), mmap_mode="r", allow_pickle=False) if info else None

    def check_model(self, sha256: str, where: str) -> None:
        """Refuse to pair this representation with weights other than the ones it was extracted from."""
        if self.manifest["model"]["sha256"] != sha256:
            raise DataError(f"{self.path} was extracted from another model ({self.manifest['model']['path']}) than {where}; extract it again from {where}")


def write_side_files(rep: Path, labels: np.ndarray | None, factors: dict[str, np.ndarray] | None) -> None:
    if labels is not None:
        write_npy(rep / "labels.npy", np.asarray(labels, dtype=np.int64))
    for name, values in (factors or {}).items():
        write_npy(rep / "factors" / f"{name}.npy", np.asarray(values, dtype=np.int64))


def write_manifest(rep: Path, manifest: dict) -> None:
    write_json(rep / MANIFEST, manifest)
