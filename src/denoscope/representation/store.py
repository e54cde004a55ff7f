"""REP/: a manifest and one preallocated .npy per block, written row by row (memory stays flat), read memory-mapped;
or the same arrays held in memory when no folder is asked for.

REP/manifest.json       what was extracted, from which model (sha256) and images, and the σ list
REP/means/BLOCK.npy     N×S×C float32: ā_BLOCK per image and σ, averaged over noise draws (φ = means/mid.npy)
REP/done.npy            N uint8: 1 where an image's rows are complete (resume skips them)
REP/labels.npy, REP/factors/NAME.npy, REP/maps/BLOCK.npy (activation maps of the first images, one draw)
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from ..data import ImageSet
from ..errors import ConfigError, DataError, OutputError
from ..io import REP_MANIFEST, check_writable, ensure_dir, folder_lock, write_json, write_marker, write_npy

MANIFEST = REP_MANIFEST
DONE = "done.npy"


class RowFile:
    """An .npy file of a fixed shape, created once at full size; rows written with pwrite, so nothing is mapped."""

    def __init__(self, path: Path, shape: tuple[int, ...], dtype: Any = np.float32):
        self.path, self.shape, self.dtype = path, tuple(shape), np.dtype(dtype)
        if not path.exists():
            ensure_dir(path.parent)
            np.lib.format.open_memmap(path, mode="w+", dtype=self.dtype, shape=self.shape).flush()
        array = load_npy(path, "r")
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


class RowArray:
    """RowFile's twin in memory: the rows of an extraction that writes no folder."""

    def __init__(self, shape: tuple[int, ...], dtype: Any = np.float32):
        self.array = np.zeros(shape, dtype)
        self.shape = self.array.shape

    def write(self, rows: np.ndarray, values: np.ndarray) -> None:
        self.array[np.asarray(rows, dtype=np.int64)] = np.asarray(values, self.array.dtype).reshape(len(rows), *self.shape[1:])

    def sync(self) -> None:
        pass

    def close(self) -> None:
        pass


class Representation:
    """ā per block and σ, labels, factors, activation maps and the manifest's facts of one extraction: a REP/ folder
    read lazily, or (path None) the `manifest` and `arrays` an extraction kept in memory, the arrays named as the
    folder's files: "means/BLOCK", "done", "labels", "factors/NAME", "maps/mid"."""

    def __init__(self, path: str | Path | None, manifest: dict | None = None, arrays: dict[str, np.ndarray] | None = None):
        self.path = None if path is None else Path(path)
        self.manifest = read_manifest(self.path) if manifest is None else manifest
        self.arrays = arrays
        self.sigmas = np.asarray(self.manifest["sigmas"], dtype=np.float64)
        self.blocks: dict[str, int] = self.manifest["blocks"]
        self.n = int(self.manifest["images"])
        self.extracted: dict | None = None  # what the `represent` call that returned it computed: images, forward passes, seconds
        self.where = str(self.path) if self.path is not None else "the in-memory representation"

    def array(self, name: str, mmap: bool = True) -> np.ndarray | None:
        """One of its arrays by file name (None if it has none): memory-mapped from the folder, or the one in memory."""
        if self.path is None:
            return self.arrays.get(name)
        file = self.path / f"{name}.npy"
        return load_npy(file, "r" if mmap else None) if file.exists() else None

    def required(self, name: str) -> np.ndarray:
        """One of the arrays every extraction writes. Without its done marks, represent was stopped before it began and
        resumes; without a block's rows beside done marks, those marks cannot be trusted."""
        array = self.array(name)
        if array is None:
            fix = "run the same represent command again to finish it" if name == "done" else "remove the REP folder and extract it again"
            raise DataError(f"{self.where} is incomplete: {name}.npy is missing; {fix}")
        return array

    @property
    def complete(self) -> bool:
        return bool(self.required("done").all())

    def check_complete(self) -> None:
        done = self.required("done")
        if not done.all():
            raise DataError(f"{self.where} is incomplete ({int(done.sum())} of {len(done)} images); run `denoscope represent` again to finish it")

    def means(self, block: str) -> np.ndarray:
        """N×S×C ā of `block` (averaged over draws) at every σ, memory-mapped from a folder."""
        if block not in self.blocks:
            raise ConfigError(f"{self.where} holds blocks {', '.join(self.blocks)}; not {block!r}")
        return self.required(f"means/{block}")

    def sigma_index(self, sigma: float) -> int:
        """The index of the extracted σ nearest to `sigma`."""
        return int(np.argmin(np.abs(self.sigmas - sigma)))

    def level_notes(self, sigma: float) -> list[str]:
        """Said when `sigma` is not within 10% of an extracted level: which level stands in for it."""
        nearest = float(self.sigmas[self.sigma_index(sigma)])
        if abs(nearest - sigma) <= 0.1 * max(abs(sigma), nearest):
            return []
        return [f"σ = {sigma:g} was not extracted; the nearest level of {self.where}, σ = {nearest:g}, is used"]

    def at(self, block: str, sigma: float) -> np.ndarray:
        """N×C ā of `block` at the extracted σ nearest to `sigma`."""
        return np.asarray(self.means(block)[:, self.sigma_index(sigma)])

    def phi(self, sigma: float) -> np.ndarray:
        return self.at("mid", sigma)

    @property
    def labels(self) -> np.ndarray | None:
        return self.array("labels", mmap=False)

    @property
    def class_names(self) -> list[str] | None:
        return self.manifest.get("class_names")

    @property
    def factors(self) -> dict[str, np.ndarray] | None:
        names = self.manifest.get("factors")
        return {n: self.array(f"factors/{n}", mmap=False) for n in names} if names else None

    def maps(self) -> np.ndarray | None:
        info = self.manifest.get("maps")
        return self.array(f"maps/{info['block']}") if info else None

    def check_source(self, images: ImageSet) -> None:
        """Refuse images other than those this representation was extracted from (neighbours would show wrong pixels)."""
        reason = source_mismatch(self.manifest, images)
        if reason is not None:
            raise DataError(reason)

    def check_model(self, sha256: str, where: str) -> None:
        """Refuse to pair this representation with weights other than the ones it was extracted from."""
        if self.manifest["model"]["sha256"] != sha256:
            raise DataError(f"{self.where} was extracted from another model ({self.manifest['model']['path']}) than {where}; extract it again from {where}")

    def save(self, out: str | Path) -> "Representation":
        """An in-memory representation written as the REP/ folder `represent(out=…)` writes (for the report), opened."""
        if self.path is not None:
            raise ConfigError(f"this representation is already the folder {self.path}")
        out = Path(out)
        check_writable(out, "representation folder", stage="represent")
        if (out / MANIFEST).exists():
            raise OutputError(f"{out} already holds a representation; choose another folder")
        with folder_lock(out, "representation folder"):
            write_marker(out, "represent")
            for name, values in self.arrays.items():
                write_npy(out / f"{name}.npy", values)
            write_manifest(out, self.manifest)
        return Representation(out)


FINGERPRINT_IMAGES = 16


def fingerprint(images: ImageSet, index: list[int] | None = None) -> dict:
    """The sha256 of the pixels of a fixed sample of images (FINGERPRINT_IMAGES evenly spaced ones), hashed in order:
    what tells a REP's source from other images of the same count, or the same images in another order."""
    if index is None:
        index = np.unique(np.linspace(0, len(images) - 1, min(len(images), FINGERPRINT_IMAGES)).round().astype(int)).tolist()
    digest = hashlib.sha256()
    for i in index:
        pixels = images[int(i)]
        digest.update(np.array(pixels.shape, np.int64).tobytes() + pixels.tobytes())
    return {"index": [int(i) for i in index], "sha256": digest.hexdigest()}


def source_mismatch(manifest: dict, images: ImageSet) -> str | None:
    """Why `images` are not the images a REP was extracted from, or None when their count and fingerprint agree."""
    if len(images) != manifest["images"]:
        return f"{images.name} holds {len(images)} images but the REP was extracted from {manifest['images']} ({manifest['source']})"
    saved = manifest.get("fingerprint")
    if saved is not None and fingerprint(images, saved["index"])["sha256"] != saved["sha256"]:
        return (f"{images.name} is not the source the REP was extracted from ({manifest['source']}): the same count, but the "
                f"pixels of its images {saved['index']} differ (other images, or the same in another order)")
    return None


def load_npy(file: Path, mmap_mode: str | None) -> np.ndarray:
    """An .npy file of a REP; one cut short (represent stopped while creating it) is said in one sentence."""
    try:
        return np.load(file, mmap_mode=mmap_mode, allow_pickle=False)
    except (ValueError, EOFError) as e:
        raise DataError(f"{file} is cut short ({e}): represent was stopped while creating it; remove the REP folder and extract it again") from None


def read_manifest(rep: Path) -> dict:
    file = rep / MANIFEST
    if not rep.is_dir():
        raise DataError(f"{rep} {'is not a folder' if rep.exists() else 'does not exist'}; expected a REP folder written by `denoscope represent`")
    if not file.is_file():
        raise DataError(f"{rep} holds no {MANIFEST}; expected a folder written by `denoscope represent`")
    try:
        return json.loads(file.read_text())
    except json.JSONDecodeError as e:
        raise DataError(f"{file} is not valid JSON ({e})") from e


def side_arrays(labels: np.ndarray | None, factors: dict[str, np.ndarray] | None) -> dict[str, np.ndarray]:
    """The labels and factors of the images, named as their files."""
    arrays = {} if labels is None else {"labels": np.asarray(labels, dtype=np.int64)}
    return arrays | {f"factors/{name}": np.asarray(values, dtype=np.int64) for name, values in (factors or {}).items()}


def write_side_files(rep: Path, labels: np.ndarray | None, factors: dict[str, np.ndarray] | None) -> None:
    for name, values in side_arrays(labels, factors).items():
        write_npy(rep / f"{name}.npy", values)


def write_manifest(rep: Path, manifest: dict) -> None:
    write_json(rep / MANIFEST, manifest)
