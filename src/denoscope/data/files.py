"""Encoded image files, in a folder or in place inside an uncompressed tar, decoded with PIL on demand."""

from __future__ import annotations

import heapq
import io
import os
import tarfile
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image

from .images import DataError, ImageSet, count, resolve_channels

EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
GRAY_MODES = ("1", "L", "LA", "La", "I", "F")
ALPHA_MODES = ("LA", "PA", "RGBA")
HEADER_BYTES = 1 << 16
DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, Image.DecompressionBombError)


def is_image(name: str) -> bool:
    return name.lower().endswith(EXTENSIONS) and not any(part.startswith(".") for part in name.split("/"))


def is_gray(mode: str) -> bool:
    return mode in GRAY_MODES or mode.startswith("I;16")


def is_wide(mode: str) -> bool:
    return mode == "I" or mode.startswith("I;16")


def conversion_notes(modes: list[str]) -> list[str]:
    """One note per kind of conversion decoding makes beyond the channel count, so none of them passes silently."""
    kinds = [
        (is_wide, "16-bit image", "converted {} to 8 bits"),
        (lambda mode: mode in ALPHA_MODES, "image", "dropped the alpha channel of {}"),
        (lambda mode: mode == "CMYK", "CMYK image", "converted {} to RGB"),
        (lambda mode: mode in ("P", "PA"), "palette image", "converted {} to RGB"),
    ]
    counts = [(sum(map(test, modes)), noun, note) for test, noun, note in kinds]
    return [note.format(count(n, noun)) for n, noun, note in counts if n]


def decode_array(image: Image.Image, channels: int) -> np.ndarray:
    """Decoded PIL image → uint8 H×W×channels; 16-bit gray is rescaled, not clipped as PIL's convert would."""
    gray = is_gray(image.mode)
    if is_wide(image.mode):
        wide = np.clip(np.asarray(image), 0, 65535).astype(np.uint32)
        image = Image.fromarray(((wide * 255 + 32767) // 65535).astype(np.uint8))
    image = image.convert("L" if gray else "RGB")
    if channels != (1 if gray else 3):
        image = image.convert("L" if channels == 1 else "RGB")
    array = np.asarray(image)
    return array[..., None] if array.ndim == 2 else array


class EncodedFiles:
    """Named image files; subclasses say where the bytes live."""

    def __init__(self, names: list[str]):
        self.names = names

    def open(self, i: int, header: bool = False) -> str | BinaryIO:
        raise NotImplementedError

    def where(self, i: int) -> str:
        raise NotImplementedError

    def read(self, i: int, channels: int) -> np.ndarray:
        try:
            with Image.open(self.open(i)) as image:
                image.load()
                return decode_array(image, channels)
        except DECODE_ERRORS as e:
            raise DataError(f"{self.where(i)}: cannot decode the image ({e})") from e

    def scan(self) -> tuple[list[str], np.ndarray]:
        """(PIL modes, H×W sizes) of every file from its header alone, refusing files that are not images."""
        modes = [""] * len(self.names)
        sizes = np.zeros((len(self.names), 2), dtype=np.int64)
        for i in range(len(self.names)):
            try:
                mode, (w, h) = self._header(i, header=True)
            except DECODE_ERRORS:
                try:
                    mode, (w, h) = self._header(i, header=False)
                except DECODE_ERRORS as e:
                    raise DataError(f"{self.where(i)}: not a readable image ({e})") from e
            modes[i], sizes[i] = mode, (h, w)
        return modes, sizes

    def _header(self, i: int, header: bool) -> tuple[str, tuple[int, int]]:
        with Image.open(self.open(i, header)) as image:
            return image.mode, image.size


class FolderFiles(EncodedFiles):
    def __init__(self, root: Path, names: list[str]):
        super().__init__(names)
        self.root = root

    def open(self, i: int, header: bool = False) -> str:
        return str(self.root / self.names[i])

    def where(self, i: int) -> str:
        return str(self.root / self.names[i])


class TarFiles(EncodedFiles):
    """Members read in place with pread on a descriptor opened lazily in each process (DataLoader workers too)."""

    def __init__(self, path: Path, names: list[str], offsets: np.ndarray, sizes: np.ndarray):
        super().__init__(names)
        self.path, self.offsets, self.sizes = path, offsets, sizes
        self._fd: int | None = None
        self._pid: int | None = None

    def open(self, i: int, header: bool = False) -> BinaryIO:
        size = int(self.sizes[i])
        if header:
            size = min(size, HEADER_BYTES)
        if self._pid != os.getpid():
            self._fd, self._pid = os.open(self.path, os.O_RDONLY), os.getpid()
        data = os.pread(self._fd, size, int(self.offsets[i]))
        if len(data) != size:
            raise EOFError(f"the tar ends {size - len(data)} bytes into this member")
        return io.BytesIO(data)

    def where(self, i: int) -> str:
        return f"{self.path}:{self.names[i]}"

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_fd": None, "_pid": None}

    def __del__(self):
        if getattr(self, "_fd", None) is not None and self._pid == os.getpid():
            os.close(self._fd)


def classes(names: list[str], where: str) -> tuple[np.ndarray | None, list[str] | None]:
    """Labels from top-level class folders (ImageFolder layout), or none for a flat layout."""
    tops = [name.split("/")[0] if "/" in name else None for name in names]
    if all(top is None for top in tops):
        return None, None
    if any(top is None for top in tops):
        raise DataError(
            f"{where} has images both at its top level and in subfolders; "
            "expected either a flat set of images or one folder per class"
        )
    class_names = sorted(set(tops))
    lookup = {name: k for k, name in enumerate(class_names)}
    return np.array([lookup[top] for top in tops], dtype=np.int64), class_names


def skip_notes(skipped: list[str], where: str) -> list[str]:
    """One note for the files a source holds that are not read as images: how many, of which kinds."""
    if not skipped:
        return []
    kinds = Counter(Path(f).suffix.lower() or "no extension" for f in skipped)
    listed = ", ".join(f"{n} {kind}" for kind, n in kinds.most_common())
    return [f"{where}: skipped {count(len(skipped), 'file')} not read as images ({listed}: not an image or hidden); read are files ending in {' '.join(EXTENSIONS)}"]


def open_files(name: str, files: EncodedFiles, where: str, channels: int | None, skipped: list[str] = ()) -> ImageSet:
    if not files.names:
        raise DataError(f"{where} holds no images; expected files ending in {' '.join(EXTENSIONS)}")
    labels, class_names = classes(files.names, where)
    modes, sizes = files.scan()
    channels, notes = resolve_channels(np.array([is_gray(mode) for mode in modes], dtype=bool), channels)
    return ImageSet(name, channels, files, sizes, labels, class_names, skip_notes(list(skipped), where) + conversion_notes(modes) + notes)


def sort_key(name: str) -> list[str]:
    return name.split("/")


def walk(root: Path) -> Iterator[tuple[str, list[str]]]:
    """(folder, files) of real folders, then of symlinked ones (shallowest first) only into folders not yet visited."""
    visited, links = set(), [(0, ())]
    while links:
        _, top = heapq.heappop(links)
        for folder, subfolders, files in os.walk(root.joinpath(*top)):
            stat = os.stat(folder)
            if (stat.st_dev, stat.st_ino) in visited:
                subfolders.clear()
                continue
            visited.add((stat.st_dev, stat.st_ino))
            subfolders[:] = [s for s in subfolders if not s.startswith(".")]
            for s in subfolders:
                if os.path.islink(os.path.join(folder, s)):
                    link = Path(folder, s).relative_to(root).parts
                    heapq.heappush(links, (len(link), link))
            yield folder, files


def open_folder(name: str, root: Path, channels: int | None = None) -> ImageSet:
    """A flat folder of images, or one subfolder per class; each real file once, where it lies if that is in root."""
    real_root, reals, skipped = os.path.realpath(root), {}, []
    for folder, files in walk(root):
        prefix, real_folder = Path(folder).relative_to(root).as_posix(), os.path.realpath(folder)
        skipped += [f for f in files if not is_image(f)]
        for f in filter(is_image, files):
            path = os.path.join(folder, f)
            real = os.path.realpath(path) if os.path.islink(path) else os.path.join(real_folder, f)
            reals[f if prefix == "." else f"{prefix}/{f}"] = real
    names = {}
    for image in sorted(reals, key=lambda image: (reals[image] != os.path.join(real_root, image), sort_key(image))):
        names.setdefault(reals[image], image)
    return open_files(name, FolderFiles(root, sorted(names.values(), key=sort_key)), str(root), channels, skipped)


def open_tar(name: str, path: Path, channels: int | None = None) -> ImageSet:
    """An uncompressed tar with either layout, indexed once and never extracted."""
    try:
        with tarfile.open(path, "r:") as tar:
            files = [m for m in tar if m.isfile()]
        members = [m for m in files if is_image(m.name.removeprefix("./"))]
        skipped = [m.name for m in files if not is_image(m.name.removeprefix("./"))]
    except (tarfile.TarError, OSError, EOFError) as e:
        raise DataError(f"{path}: not a readable uncompressed tar ({e})") from e
    members.sort(key=lambda m: sort_key(m.name.removeprefix("./")))
    names = [m.name.removeprefix("./") for m in members]
    offsets = np.array([m.offset_data for m in members], dtype=np.int64)
    files = TarFiles(path, names, offsets, np.array([m.size for m in members], dtype=np.int64))
    return open_files(name, files, str(path), channels, skipped)
