"""Decode a training set once into one uint8 array (cached, memory-mapped) and batch it on the device,
so a GPU is fed by indexing rather than by decoding PNGs one by one."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import torch
from rich.progress import track

from .. import rng
from ..errors import DataError
from ..io import atomic_file, remove_stale_temps, write_json
from .dataset import check_sizes
from .images import ImageSet
from .transforms import Transform


def geometry(images: ImageSet, indices: np.ndarray, transform: Transform) -> Transform:
    """The deterministic part of `transform`; random patches keep whole images, which must then share one size."""
    check_sizes(images, indices, transform)
    if transform.size is not None and transform.mode == "random-patch":
        sizes = images.sizes[indices]
        if (sizes != sizes[0]).any():
            raise DataError(
                f"{images.name}: random-patch over images of different sizes needs the loader path; "
                "use mode 'resize' or 'center-crop' to decode the set into memory"
            )
        return Transform()
    return Transform(transform.size, transform.mode)


def describe(images: ImageSet, indices: np.ndarray, transform: Transform) -> dict:
    """What a cache must have been built from to be reused."""
    h, w = images.sizes[indices[0]] if transform.size is None else (transform.size, transform.size)
    # the header sizes go into the hash too, so a source whose files changed size is not mistaken for the cached one
    digest = hashlib.sha256(indices.tobytes() + images.sizes[indices].tobytes()).hexdigest()
    return {
        "source": images.name,
        "indices": digest,
        "transform": {"size": transform.size, "mode": transform.mode},
        "shape": [len(indices), int(h), int(w), images.channels],
        "dtype": "uint8",
    }


def fill(out: np.ndarray, images: ImageSet, indices: np.ndarray, transform: Transform, progress: bool) -> None:
    for row, i in enumerate(track(indices, description=f"decoding {images.name}", disable=not progress)):
        out[row] = transform(images[int(i)])


def cached(path: Path, meta: dict) -> np.ndarray | None:
    """The memory-mapped cache at `path` if its sidecar and header match `meta`, else None."""
    try:
        if json.loads(path.with_suffix(".json").read_text()) != meta:
            return None
        array = np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError):
        return None
    return array if list(array.shape) == meta["shape"] and array.dtype == np.uint8 else None


def decode_all(
    images: ImageSet,
    indices: np.ndarray,
    transform: Transform,
    cache: Path | None = None,
    progress: bool = False,
) -> np.ndarray:
    """Images at `indices` after the deterministic geometry of `transform`, as one uint8 N×H×W×C array.

    With `cache` (a .npy path; its sidecar is the same name with .json) the array is written there once
    and later opened memory-mapped, so sets larger than RAM still work.
    """
    indices = np.asarray(indices, dtype=np.int64)
    if len(indices) == 0:
        raise DataError(f"{images.name}: no images to decode")
    transform = geometry(images, indices, transform)
    meta = describe(images, indices, transform)
    if cache is None:
        out = np.empty(meta["shape"], dtype=np.uint8)
        fill(out, images, indices, transform, progress)
        return out
    cache = Path(cache)
    if (array := cached(cache, meta)) is not None:
        return array
    sidecar = cache.with_suffix(".json")
    # the sidecar vouches for the array, so it goes first and comes back only once the new array is in place
    sidecar.unlink(missing_ok=True)
    remove_stale_temps(cache.parent)
    with atomic_file(cache) as tmp:
        out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=tuple(meta["shape"]))
        fill(out, images, indices, transform, progress)
        out.flush()
        del out
    write_json(sidecar, meta)
    return np.load(cache, mmap_mode="r", allow_pickle=False)


class DeviceBatches:
    """A decoded uint8 N×H×W×C set that hands out float batches on `device`, randomness keyed per image."""

    def __init__(self, images: np.ndarray, device: torch.device | str, max_bytes: int | None = None):
        self.device = torch.device(device)
        if max_bytes is None:
            max_bytes = 4 << 30 if self.device.type == "cuda" else 0
        self.shape = images.shape
        self.resident = torch.from_numpy(np.array(images)).to(self.device) if images.nbytes <= max_bytes else None
        self.host = images if self.resident is None else None

    def __len__(self) -> int:
        return self.shape[0]

    def batch(self, positions: torch.Tensor, keys: torch.Tensor, flip: bool) -> torch.Tensor:
        """Float32 N×C×H×W in [0, 1]; image n flips when uniform(keys[n]) < 0.5, whatever else is in the batch."""
        if self.resident is not None:
            rows = self.resident[positions.to(self.device, torch.int64)]
        else:
            rows = torch.from_numpy(self.host[positions.cpu().numpy()])
            rows = (rows.pin_memory() if self.device.type == "cuda" else rows).to(self.device, non_blocking=True)
        x = rows.permute(0, 3, 1, 2).to(torch.float32, memory_format=torch.contiguous_format).div_(255)
        if flip:
            flipped = rng.uniform(keys.to(self.device), stream="uniform") < 0.5
            x = torch.where(flipped[:, None, None, None], x.flip(-1), x)
        return x
