"""Geometric and colour transforms on uint8 H×W×C arrays, random only through an explicit Generator."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

from ..config import RESIZE_MODES
from ..errors import ConfigError
from .images import DataError

MODES = RESIZE_MODES


def to_gray(image: np.ndarray) -> np.ndarray:
    """RGB → H×W×1 with PIL's integer ITU-R 601 luma, so arrays and decoded files convert identically."""
    if image.shape[2] == 1:
        return image
    x = image.astype(np.uint32)
    luma = (x[..., 0] * 19595 + x[..., 1] * 38470 + x[..., 2] * 7471 + 0x8000) >> 16
    return luma.astype(np.uint8)[..., None]


def to_rgb(image: np.ndarray) -> np.ndarray:
    return image if image.shape[2] == 3 else np.repeat(image, 3, axis=2)


def center_crop(image: np.ndarray, h: int, w: int) -> np.ndarray:
    _check_fits(image, h, w, "center-crop")
    top, left = (image.shape[0] - h) // 2, (image.shape[1] - w) // 2
    return image[top : top + h, left : left + w]


def random_patch(image: np.ndarray, size: int, rng: np.random.Generator | None) -> np.ndarray:
    """A uniformly placed size×size patch; the centre one without an rng, so evaluation is deterministic."""
    _check_fits(image, size, size, "random-patch")
    if rng is None:
        top, left = (image.shape[0] - size) // 2, (image.shape[1] - size) // 2
    else:
        top, left = (int(rng.integers(0, n - size + 1)) for n in image.shape[:2])
    return image[top : top + size, left : left + size]


def resize(image: np.ndarray, h: int, w: int) -> np.ndarray:
    """Area averaging when shrinking (no aliasing), bicubic when enlarging."""
    height, width, channels = image.shape
    if (height, width) == (h, w):
        return image
    pil = Image.fromarray(image[..., 0] if channels == 1 else image)
    out = np.array(pil.resize((w, h), Image.BOX if h <= height and w <= width else Image.BICUBIC))
    return out.reshape(h, w, channels)


def _check_fits(image: np.ndarray, h: int, w: int, mode: str) -> None:
    if image.shape[0] < h or image.shape[1] < w:
        raise DataError(
            f"image is {image.shape[0]}×{image.shape[1]}, smaller than the {h}×{w} that {mode} needs; "
            "use a smaller image size or mode 'resize'"
        )


@dataclass(frozen=True)
class Transform:
    """Bring an image to size×size (by `mode`), then maybe flip it; identity geometry when size is None."""

    size: int | None = None
    mode: str = "resize"
    flip: bool = False

    def __post_init__(self):
        if self.mode not in MODES:
            raise ConfigError(f"unknown resize mode {self.mode!r}; expected one of {', '.join(MODES)}")
        if self.size is not None and self.size < 1:
            raise ConfigError(f"image size must be positive, not {self.size}")

    def __call__(self, image: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
        if self.size is not None:
            if self.mode == "resize":
                side = min(image.shape[:2])
                image = resize(center_crop(image, side, side), self.size, self.size)
            elif self.mode == "center-crop":
                image = center_crop(image, self.size, self.size)
            else:
                image = random_patch(image, self.size, rng)
        if self.flip and rng is not None and rng.random() < 0.5:
            image = image[:, ::-1]
        return np.ascontiguousarray(image)
