"""One function turns a source string (folder, .tar, .npy/.npz or synthetic:NAME) into an ImageSet."""

from __future__ import annotations

import re
from pathlib import Path

from .arrays import open_npy, open_npz
from .files import open_folder, open_tar
from .images import DataError, ImageSet
from .synthetic import open_synthetic

KINDS = "a folder of images (flat or one subfolder per class), an uncompressed .tar, a .npy/.npz file or synthetic:NAME"
OPENERS = {".tar": open_tar, ".npy": open_npy, ".npz": open_npz}


def open_source(spec: str, channels: int | None = None) -> ImageSet:
    """Open `spec` lazily; `channels` None keeps the data's own (RGB when mixed), 1 or 3 converts."""
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


SUBSET = re.compile(r"^(?P<base>.*) \[(?P<n>\d+) of \d+, seed (?P<seed>\d+)\]$")


def reopen(name: str, channels: int | None = None) -> ImageSet:
    """The images a saved ImageSet name stands for: a source string, or one with ImageSet.subset's " [n of N, seed s]"."""
    match = SUBSET.match(name)
    if match is None:
        return open_source(name, channels)
    return open_source(match["base"], channels).subset(int(match["n"]), int(match["seed"]))
