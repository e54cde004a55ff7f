"""Images stored as uint8 arrays in .npy/.npz files, including the downsampled-ImageNet row format."""

from __future__ import annotations

import zipfile
import zlib
from math import isqrt
from pathlib import Path

import numpy as np

from .images import DataError, ImageSet, resolve_channels
from .transforms import to_gray, to_rgb

IMAGE_KEYS = ("images", "x", "data")
EXPECTED = "uint8 images shaped N×H×W×C (C = 1 or 3) or N×H×W"
LOAD_ERRORS = (ValueError, OSError, EOFError, zipfile.BadZipFile, zlib.error)


class ArrayImages:
    def __init__(self, path: Path, array: np.ndarray):
        self.path, self.array = path, array

    def read(self, i: int, channels: int) -> np.ndarray:
        image = self.array[i]
        return to_gray(image) if channels == 1 else to_rgb(image)

    def where(self, i: int) -> str:
        return f"{self.path}[{i}]"


def as_images(array: np.ndarray, what: str) -> np.ndarray:
    if array.dtype != np.uint8 or array.ndim not in (3, 4) or (array.ndim == 4 and array.shape[3] not in (1, 3)):
        raise DataError(f"{what} is {array.dtype} shaped {array.shape}; expected {EXPECTED}")
    return array[..., None] if array.ndim == 3 else array


def from_rows(rows: np.ndarray, what: str) -> np.ndarray:
    """Downsampled-ImageNet batches: one channel-first 3×H×H image per uint8 row."""
    side = isqrt(rows.shape[1] // 3)
    if rows.dtype != np.uint8 or side == 0 or rows.shape[1] != 3 * side * side:
        raise DataError(f"{what} is {rows.dtype} shaped {rows.shape}; expected uint8 rows of 3·H·H values, or {EXPECTED}")
    return rows.reshape(-1, 3, side, side).transpose(0, 2, 3, 1)


def as_labels(labels: np.ndarray, n: int, what: str, first: int) -> np.ndarray:
    if labels.size != n or not np.issubdtype(labels.dtype, np.integer):
        raise DataError(f"{what} is {labels.dtype} shaped {labels.shape}; expected {n} integer labels, one per image")
    labels = labels.reshape(-1).astype(np.int64) - first
    if (labels < 0).any():
        raise DataError(f"{what} has labels below {first}; expected labels counted from {first}")
    return labels


def as_class_names(classes: np.ndarray, labels: np.ndarray | None, what: str) -> list[str]:
    """An .npz `classes` array: one name per label value, so that reports say "cat", not "class 3"."""
    if labels is None:
        raise DataError(f"{what} names classes but the archive has no 'labels' array; add labels or drop 'classes'")
    if classes.ndim != 1 or classes.dtype.kind not in "US":
        raise DataError(f"{what} is {classes.dtype} shaped {classes.shape}; expected a 1-D array of class names (strings)")
    names = [c.decode() if isinstance(c, bytes) else str(c) for c in classes.tolist()]
    if labels.max() >= len(names):
        raise DataError(f"{what} names {len(names)} classes but the labels go up to {int(labels.max())}; expected one name per label")
    return names


def open_images(name: str, path: Path, images: np.ndarray, labels: np.ndarray | None, channels: int | None,
                class_names: list[str] | None = None) -> ImageSet:
    n, h, w, c = images.shape
    channels, notes = resolve_channels(np.full(n, c == 1), channels)
    return ImageSet(name, channels, ArrayImages(path, images), np.tile([h, w], (n, 1)), labels, class_names, notes=notes)


def open_npy(name: str, path: Path, channels: int | None = None) -> ImageSet:
    """A memory-mapped .npy of images, without labels."""
    try:
        array = np.load(path, mmap_mode="r", allow_pickle=False)
    except LOAD_ERRORS as e:
        raise DataError(f"{path}: not a readable .npy file ({e})") from e
    return open_images(name, path, as_images(array, str(path)), None, channels)


def open_npz(name: str, path: Path, channels: int | None = None) -> ImageSet:
    """Images under `images`, `x` or `data`, with optional `labels` and `classes` (the name of each label value);
    2-D `data` is the 1-based row format."""
    try:
        archive = np.load(path, allow_pickle=False)
    except LOAD_ERRORS as e:
        raise DataError(f"{path}: not a readable .npz archive ({e})") from e
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise DataError(f"{path} holds a single array, not a .npz archive; name it .npy")
    with archive:
        key = next((k for k in IMAGE_KEYS if k in archive.files), None)
        if key is None:
            found = ", ".join(archive.files) or "none"
            raise DataError(f"{path} holds arrays {found}; expected images under one of {', '.join(IMAGE_KEYS)}")
        try:
            array = archive[key]
            labels = archive["labels"] if "labels" in archive.files else None
            classes = archive["classes"] if "classes" in archive.files else None
        except LOAD_ERRORS as e:
            raise DataError(f"{path}: cannot read its arrays ({e})") from e
    rows = array.ndim == 2
    what = f"{path} array {key!r}"
    images = from_rows(array, what) if rows else as_images(array, what)
    if labels is not None:
        labels = as_labels(labels, len(images), f"{path} array 'labels'", first=1 if rows else 0)
    names = None if classes is None else as_class_names(classes, labels, f"{path} array 'classes'")
    return open_images(name, path, images, labels, channels, names)
