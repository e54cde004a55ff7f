"""Procedural images with known generating factors, so representations can be probed against ground truth."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from urllib.parse import parse_qsl

import numpy as np

from .images import DataError, ImageSet, resolve_channels
from .transforms import to_gray

SHAPES = ("circle", "square", "triangle", "cross")
TEXTURES = ("flat", "stripes", "checker", "dots")
COLOURS = {
    "red": (0.85, 0.18, 0.15),
    "yellow": (0.92, 0.78, 0.15),
    "green": (0.2, 0.65, 0.25),
    "cyan": (0.15, 0.72, 0.8),
    "blue": (0.2, 0.32, 0.85),
    "magenta": (0.78, 0.22, 0.7),
}
POSITIONS = 9
FACTORS = {"shape": len(SHAPES), "texture": len(TEXTURES), "colour": len(COLOURS), "position": POSITIONS}
SUPERSAMPLE = 4


def mix(x: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser: a bijection on uint64 that scrambles every bit."""
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def shape_mask(shape: str, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Inside-test in units of the radius, with u = |x offset| (every shape is left-right symmetric)."""
    if shape == "circle":
        return u**2 + v**2 <= 1
    if shape == "square":
        return np.maximum(u, abs(v)) <= 0.85
    if shape == "triangle":
        return (v <= 0.8) & (u <= 0.6 * (v + 1.05))
    return ((u <= 0.34) & (abs(v) <= 1)) | ((abs(v) <= 0.34) & (u <= 1))


def texture(name: str, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Where the object is shaded dark, in units of the texture period."""
    if name == "stripes":
        return np.floor(a + b) % 2 == 1
    if name == "checker":
        return (np.floor(a) + np.floor(b)) % 2 == 1
    if name == "dots":
        return (a - np.round(a)) ** 2 + (b - np.round(b)) ** 2 <= 0.09
    return np.zeros(np.broadcast_shapes(a.shape, b.shape), dtype=bool)


def area_mean(fine: np.ndarray, factor: int) -> np.ndarray:
    h, w = fine.shape
    return fine.reshape(h // factor, factor, w // factor, factor).mean(axis=(1, 3), dtype=np.float32)


@dataclass(frozen=True)
class Shapes:
    """One textured, coloured shape at one of 3×3 positions on a faint gradient; image i depends only on (seed, i)."""

    n: int = 4096
    size: int = 32
    seed: int = 0

    def __post_init__(self):
        for field, low in (("n", 1), ("size", 8), ("seed", 0)):
            if getattr(self, field) < low:
                raise DataError(f"synthetic:shapes needs {field} ≥ {low}, not {getattr(self, field)}")

    def factors(self, index: np.ndarray) -> dict[str, np.ndarray]:
        """Factors of the images at `index`, hashed from (seed, i) without rendering anything."""
        streams = np.asarray(index, dtype=np.uint64) * np.uint64(len(FACTORS))
        return {
            name: (mix(mix(streams + np.uint64(k)) + np.uint64(self.seed)) % np.uint64(n)).astype(np.int64)
            for k, (name, n) in enumerate(FACTORS.items())
        }

    def render(self, i: int) -> np.ndarray:
        """RGB uint8 size×size; the object is drawn at 4× and area-averaged so its edges are anti-aliased."""
        f = {name: int(value[0]) for name, value in self.factors(np.array([i])).items()}
        rng = np.random.default_rng([self.seed, i])
        s = self.size
        centres = np.arange(s, dtype=np.float32) + 0.5
        y, x = centres[:, None], centres[None, :]
        angle = rng.uniform(0, 2 * np.pi)
        ramp = ((x - s / 2) * np.cos(angle) + (y - s / 2) * np.sin(angle)) / s
        background = rng.uniform(0.3, 0.7) + rng.uniform(-0.04, 0.04, 3) + rng.uniform(0.05, 0.2) * ramp[..., None]

        row, col = divmod(f["position"], 3)
        cy, cx = (0.5 + 0.21 * np.array([row - 1, col - 1]) + rng.uniform(-0.025, 0.025, 2)) * s
        radius = 0.17 * s * rng.uniform(0.9, 1.1)
        fine = (np.arange(s * SUPERSAMPLE, dtype=np.float32) + 0.5) / SUPERSAMPLE
        yy, xx = fine[:, None], fine[None, :]
        mask = shape_mask(SHAPES[f["shape"]], abs(xx - cx) / radius, (yy - cy) / radius)
        dark = texture(TEXTURES[f["texture"]], (xx - cx) / (0.75 * radius), (yy - cy) / (0.75 * radius))
        coverage, paint = (area_mean(m, SUPERSAMPLE) for m in (mask, mask * np.where(dark, 0.35, 1.0)))
        colour = np.array(list(COLOURS.values())[f["colour"]])
        image = background * (1 - coverage[..., None]) + paint[..., None] * colour
        return np.round(np.clip(image, 0, 1) * 255).astype(np.uint8)

    def read(self, i: int, channels: int) -> np.ndarray:
        image = self.render(i)
        return to_gray(image) if channels == 1 else image

    def where(self, i: int) -> str:
        return f"synthetic:shapes?n={self.n}&size={self.size}&seed={self.seed} image {i}"


SETS = {"shapes": Shapes}


def open_synthetic(spec: str, channels: int | None = None) -> ImageSet:
    """`synthetic:NAME?key=value&…`, e.g. synthetic:shapes?n=2000&size=32&seed=0."""
    name, _, query = spec.removeprefix("synthetic:").partition("?")
    if name not in SETS:
        raise DataError(f"{spec}: unknown synthetic set {name!r}; expected one of {', '.join(SETS)}")
    cls = SETS[name]
    fields = [f.name for f in dataclasses.fields(cls)]
    try:
        pairs = parse_qsl(query, keep_blank_values=True, strict_parsing=True) if query else []
    except ValueError as e:
        raise DataError(f"{spec}: cannot parse the parameters ({e}); expected key=value pairs joined by &") from e
    params = {}
    for key, value in pairs:
        if key not in fields:
            raise DataError(f"{spec}: unknown parameter {key!r} for synthetic:{name}; expected {', '.join(fields)}")
        try:
            params[key] = int(value)
        except ValueError:
            raise DataError(f"{spec}: parameter {key}={value!r} must be an integer") from None
    generator = cls(**params)
    factors = generator.factors(np.arange(generator.n))
    channels, notes = resolve_channels(np.zeros(generator.n, dtype=bool), channels)
    sizes = np.broadcast_to(np.array([generator.size, generator.size]), (generator.n, 2))
    return ImageSet(spec, channels, generator, sizes, factors["shape"], list(SHAPES), notes, factors)
