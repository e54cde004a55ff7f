"""The one container every source opens into: lazily read images with a fixed channel count."""

from __future__ import annotations

import warnings
from typing import Protocol

import numpy as np

from .. import rng
from ..errors import DataError, Note


class Reader(Protocol):
    def read(self, i: int, channels: int) -> np.ndarray: ...

    def where(self, i: int) -> str: ...


class ImageSet:
    """Images of one source, decoded on access, all handed out as uint8 H×W×`channels`."""

    def __init__(
        self,
        name: str,
        channels: int,
        reader: Reader,
        sizes: np.ndarray,
        labels: np.ndarray | None = None,
        class_names: list[str] | None = None,
        notes: list[str] | None = None,
        factors: dict[str, np.ndarray] | None = None,
    ):
        self.name, self.channels, self.reader = name, channels, reader
        self.sizes = np.asarray(sizes, dtype=np.int64).reshape(-1, 2)
        self.labels, self.class_names = labels, class_names
        self.notes = list(notes or [])
        self.factors = factors
        if len(self.sizes) == 0:
            raise DataError(f"{name} holds no images")

    def __len__(self) -> int:
        return len(self.sizes)

    def __getitem__(self, i: int) -> np.ndarray:
        return np.array(self.reader.read(self._index(i), self.channels), dtype=np.uint8, order="C")

    def size_of(self, i: int) -> tuple[int, int]:
        """(H, W) from the headers read at opening, so nothing is decoded."""
        h, w = self.sizes[self._index(i)]
        return int(h), int(w)

    def where(self, i: int) -> str:
        """The file (or tar member, or array row) behind image i, for error messages."""
        return self.reader.where(self._index(i))

    def _index(self, i: int) -> int:
        n = len(self)
        if not -n <= i < n:
            raise IndexError(f"image index {i} out of range for {self.name} ({n} images)")
        return int(i) % n

    def __repr__(self) -> str:
        return f"ImageSet({self.name!r}, {len(self)} images, {self.channels} channel(s))"

    def subset(self, n: int, seed: int = 0) -> "ImageSet":
        """n images chosen by rng.choose(…, seed, "subset"), kept in their original order (all if n ≥ len): the same images
        for every stage given the same n and seed (represent and analyse --max-images, the report's reopen)."""
        if n < 1:
            raise DataError(f"a subset needs at least 1 image, got {n}")
        if n > len(self):
            warnings.warn(f"{n} images asked of {self.name}, which holds {len(self)}: all {len(self)} are used", Note)
        if n >= len(self):
            return self
        chosen = rng.choose(len(self), n, seed, "subset")
        return ImageSet(
            f"{self.name} [{n} of {len(self)}, seed {seed}]", self.channels, Picked(self.reader, chosen), self.sizes[chosen],
            None if self.labels is None else self.labels[chosen], self.class_names, self.notes, None if self.factors is None else {k: v[chosen] for k, v in self.factors.items()},
        )


class Picked:
    """A reader of some of another reader's images."""

    def __init__(self, reader: Reader, chosen: np.ndarray):
        self.reader, self.chosen = reader, chosen

    def read(self, i: int, channels: int) -> np.ndarray:
        return self.reader.read(int(self.chosen[i]), channels)

    def where(self, i: int) -> str:
        return self.reader.where(int(self.chosen[i]))


def resolve_channels(gray: np.ndarray, requested: int | None) -> tuple[int, list[str]]:
    """Channel count for images whose native grayness is `gray`, and notes on the conversions it implies."""
    if requested not in (None, 1, 3):
        raise DataError(f"channels must be 1 or 3, not {requested}")
    n_gray = int(np.count_nonzero(gray))
    n_colour = len(gray) - n_gray
    channels = requested or (1 if n_colour == 0 else 3)
    if channels == 3 and n_gray:
        return channels, [f"converted {count(n_gray, 'grayscale image')} to RGB"]
    if channels == 1 and n_colour:
        return channels, [f"converted {count(n_colour, 'colour image')} to grayscale"]
    return channels, []


def count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"
