"""The torch side: ImageSet images as float tensors in [0, 1], C×H×W, reproducible from per-item seeds."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from .. import rng
from .images import DataError, ImageSet, count
from .transforms import Transform


def to_tensor(image: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1), dtype=np.float32) / 255)


def check_sizes(images: ImageSet, indices: np.ndarray, transform: Transform) -> None:
    """Fail before training starts, from the headers, rather than in a DataLoader worker later."""
    sizes = images.sizes[indices]
    if transform.size is None:
        odd = np.flatnonzero((sizes != sizes[0]).any(axis=1))
        if len(odd):
            (h, w), (h2, w2) = sizes[0], sizes[odd[0]]
            raise DataError(
                f"images differ in size ({images.where(indices[0])} is {h}×{w}, "
                f"{images.where(indices[odd[0]])} is {h2}×{w2}); pass an image size"
            )
    elif transform.mode != "resize":
        small = np.flatnonzero(sizes.min(axis=1) < transform.size)
        if len(small):
            h, w = sizes[small[0]]
            raise DataError(
                f"{images.where(indices[small[0]])} is {h}×{w}, smaller than the {transform.size}×{transform.size} "
                f"that {transform.mode} needs ({count(len(small), 'image')} too small); "
                "use a smaller image size or mode 'resize'"
            )


class TrainingSet(torch.utils.data.Dataset):
    """Images as float tensors in [0,1], C×H×W, with per-item seeds so random transforms are reproducible."""

    def __init__(self, images: ImageSet, transform: Transform, indices: np.ndarray | None = None):
        self.images, self.transform = images, transform
        self.indices = np.arange(len(images)) if indices is None else np.asarray(indices, dtype=np.int64)
        if len(self.indices):
            check_sizes(images, self.indices, transform)

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, key: tuple[int, int]) -> torch.Tensor:
        position, seed = key
        return to_tensor(self.transform(self.images[int(self.indices[position])], np.random.default_rng(seed)))


def stack_images(images: ImageSet, indices: Sequence[int] | np.ndarray, transform: Transform = Transform()) -> torch.Tensor:
    """Deterministically transformed images as one float32 N×C×H×W tensor, for a fixed held-out set."""
    indices = np.asarray(indices, dtype=np.int64)
    if len(indices) == 0:
        side = transform.size or 0
        return torch.empty(0, images.channels, side, side)
    check_sizes(images, indices, transform)
    return torch.stack([to_tensor(transform(images[int(i)])) for i in indices])


def split_indices(n: int, holdout: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A split into (train, held-out) indices, both sorted, so the held-out images never train; drawn by the "holdout"
    stream of `seed`."""
    if not 0 <= holdout <= n // 2:
        raise DataError(f"cannot hold out {holdout} of {n} images; at most half ({n // 2}) may be held out")
    held = rng.choose(n, holdout, seed, "holdout")
    return np.setdiff1d(np.arange(n), held, assume_unique=True), held


def mean_image(images: ImageSet, transform: Transform = Transform(), max_images: int = 1000, seed: int = 0) -> torch.Tensor:
    """The mean C×H×W image of up to `max_images` images (the "mean-image" stream of `seed`): where reverse diffusion
    starts (the authors start from the data mean)."""
    return stack_images(images, rng.choose(len(images), max_images, seed, "mean-image"), transform).mean(0)
