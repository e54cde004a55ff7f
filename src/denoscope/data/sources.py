"""One function turns a source string (folder, .tar, .npy/.npz or synthetic:NAME) into an ImageSet."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from .arrays import open_npy, open_npz
from .files import open_folder, open_tar
from .images import DataError, ImageSet
from .synthetic import open_synthetic

KINDS = ("a folder of images (flat or one subfolder per class), an uncompressed .tar, a .npy/.npz file or synthetic:NAME, "
         "or several joined by +")
OPENERS = {".tar": open_tar, ".npy": open_npy, ".npz": open_npz}
JOIN = "+"


def open_source(spec: str, channels: int | None = None) -> ImageSet:
    """Open `spec` lazily; `channels` None keeps the data's own (RGB when mixed), 1 or 3 converts. "A+B" is A's images
    then B's (a path that exists with a + in its name is that path)."""
    if JOIN in spec and not Path(spec).expanduser().exists():
        parts = spec.split(JOIN)
        if not all(parts):
            raise DataError(f"{spec}: an empty part before or after {JOIN}; expected {KINDS}")
        return join(spec, [open_one(part, channels) for part in parts], channels)
    return open_one(spec, channels)


def open_one(spec: str, channels: int | None) -> ImageSet:
    if spec.startswith("synthetic:"):
        return open_synthetic(spec, channels)
    path = Path(spec).expanduser()
    if path.is_dir():
        return open_folder(spec, path, channels)
    if not path.exists():
        raise DataError(f"{spec}: no such file or folder; expected {KINDS}")
    opener = OPENERS.get(path.suffix.lower())
    if opener is None:
        raise DataError(f"{spec}: cannot read {path.suffix or 'extensionless'} files as images; expected {KINDS}")
    return opener(spec, path, channels)


def join(name: str, parts: list[ImageSet], channels: int | None) -> ImageSet:
    """One ImageSet of `parts` in order: labels kept when every part names the same classes, factors when every part
    has the same ones; parts of 1 and 3 channels are all read as RGB unless `channels` says otherwise."""
    if channels is None and len({p.channels for p in parts}) > 1:
        return join(name, [open_one(p.name, 3) for p in parts], 3)
    notes = [f"{p.name}: {note}" for p in parts for note in p.notes]
    labels = class_names = None
    if all(p.labels is not None for p in parts) and all(p.class_names == parts[0].class_names for p in parts):
        labels, class_names = np.concatenate([p.labels for p in parts]), parts[0].class_names
    elif any(p.labels is not None for p in parts):
        notes.append(f"labels left out: the parts of {name} do not all name the same classes")
    keys = [sorted(p.factors) if p.factors else None for p in parts]
    factors = {k: np.concatenate([p.factors[k] for p in parts]) for k in keys[0]} if keys[0] and keys.count(keys[0]) == len(keys) else None
    return ImageSet(name, parts[0].channels, Joined(parts), np.concatenate([p.sizes for p in parts]), labels, class_names, notes, factors)


class Joined:
    """A reader of several ImageSets' images, one after another."""

    def __init__(self, parts: list[ImageSet]):
        self.parts, self.starts = parts, np.cumsum([0, *map(len, parts)])

    def locate(self, i: int) -> tuple[ImageSet, int]:
        k = int(np.searchsorted(self.starts, i, side="right")) - 1
        return self.parts[k], i - int(self.starts[k])

    def read(self, i: int, channels: int) -> np.ndarray:
        part, j = self.locate(i)
        return part.reader.read(j, channels)

    def where(self, i: int) -> str:
        part, j = self.locate(i)
        return part.reader.where(j)


SUBSET = re.compile(r"^(?P<base>.*) \[(?P<n>\d+) of \d+, seed (?P<seed>\d+)\]$")


def reopen(name: str, channels: int | None = None) -> ImageSet:
    """The images a saved ImageSet name stands for: a source string, or one with ImageSet.subset's " [n of N, seed s]"."""
    match = SUBSET.match(name)
    if match is None:
        return open_source(name, channels)
    return open_source(match["base"], channels).subset(int(match["n"]), int(match["seed"]))
