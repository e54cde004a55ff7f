"""Linear measurements x_c = Mᵀx, M N×m with MᵀM = I, for solving inverse problems with a denoiser's prior.

Kadkhodaie & Simoncelli 2021 only need M's two products: Mᵀx (measure) and M c (adjoint); with orthonormal
columns the adjoint is also the pseudo-inverse and M Mᵀ the orthogonal projection onto the measured subspace.
"""

from __future__ import annotations

import copy
import math
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Self

import torch

from .. import rng
from ..errors import ConfigError

Shape = tuple[int, int, int]


def _shape(shape: Sequence[int]) -> Shape:
    if len(shape) != 3 or any(int(s) != s or s < 1 for s in shape):
        raise ConfigError(f"shape must be three positive integers (C, H, W), got {tuple(shape)}")
    return tuple(int(s) for s in shape)  # type: ignore[return-value]


class MeasurementOperator(ABC):
    """M as its two products, so no N×m matrix is built unless the measurement has no structure."""

    def __init__(self, shape: Sequence[int], m: int, name: str) -> None:
        self.shape: Shape = _shape(shape)
        self.m = m
        self.name = name

    @property
    def size(self) -> int:
        """N = C·H·W, the dimension of the signal."""
        return math.prod(self.shape)

    def _check_image(self, x: torch.Tensor) -> None:
        if x.dim() != 4 or tuple(x.shape[1:]) != self.shape:
            expected = "×".join(map(str, self.shape))
            raise ConfigError(f"{self.name} expects images shaped B×{expected}, got {tuple(x.shape)}")

    def _check_measurement(self, c: torch.Tensor) -> None:
        if c.dim() != 2 or c.shape[1] != self.m:
            raise ConfigError(f"{self.name} expects measurements shaped B×{self.m}, got {tuple(c.shape)}")

    @abstractmethod
    def measure(self, x: torch.Tensor) -> torch.Tensor:
        """Mᵀx: B×C×H×W → B×m, on x's device and dtype."""

    @abstractmethod
    def adjoint(self, c: torch.Tensor) -> torch.Tensor:
        """M c: B×m → B×C×H×W, on c's device and dtype."""

    def project(self, x: torch.Tensor) -> torch.Tensor:
        """M Mᵀ x: the part of x the measurement sees."""
        return self.adjoint(self.measure(x))

    def pseudo_inverse(self, c: torch.Tensor) -> torch.Tensor:
        """The least-norm image consistent with c, which is M c because M's columns are orthonormal."""
        return self.adjoint(c)

    def to(self, device: torch.device | str) -> Self:
        """A copy whose tensors live on `device`, so products do not move them on every call."""
        moved = copy.copy(self)
        moved.__dict__.update({k: v.to(device) for k, v in vars(self).items() if isinstance(v, torch.Tensor)})
        return moved

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name}, shape={self.shape}, m={self.m})"


class _Subsampling(MeasurementOperator):
    """M's columns are standard basis vectors: measuring is indexing, the adjoint scatters into zeros."""

    def __init__(self, shape: Sequence[int], keep: torch.Tensor, name: str) -> None:
        """`keep`: a boolean H×W mask of kept pixel locations, all channels kept at each."""
        c, h, w = _shape(shape)
        locations = keep.reshape(-1).nonzero().squeeze(1)
        self.index = (torch.arange(c).unsqueeze(1) * (h * w) + locations).reshape(-1)
        super().__init__(shape, self.index.numel(), name)

    def measure(self, x: torch.Tensor) -> torch.Tensor:
        self._check_image(x)
        return x.reshape(x.shape[0], -1)[:, self.index.to(x.device)]

    def adjoint(self, c: torch.Tensor) -> torch.Tensor:
        self._check_measurement(c)
        out = c.new_zeros(c.shape[0], self.size)
        out[:, self.index.to(c.device)] = c
        return out.reshape(c.shape[0], *self.shape)


class RandomPixels(_Subsampling):
    """Inpainting of scattered pixels: a seeded random round(fraction·H·W) of the locations is kept."""

    def __init__(self, shape: Sequence[int], fraction: float = 0.1, seed: int = 0) -> None:
        _, h, w = _shape(shape)
        if not 0 < fraction <= 1:
            raise ConfigError(f"fraction must be in (0, 1], got {fraction}")
        count = round(fraction * h * w)
        if count == 0:
            raise ConfigError(f"fraction {fraction} keeps no pixel of a {h}×{w} image; expected at least 1/{h * w}")
        chosen = torch.from_numpy(rng.choose(h * w, count, seed, "operator"))
        keep = torch.zeros(h * w, dtype=torch.bool)
        keep[chosen] = True
        super().__init__(shape, keep, f"random pixels {fraction:.0%} (seed {seed})")


class MissingBox(_Subsampling):
    """Inpainting of a hole: every pixel outside the box is kept."""

    def __init__(self, shape: Sequence[int], top: int, left: int, height: int, width: int) -> None:
        _, h, w = _shape(shape)
        if height < 1 or width < 1 or top < 0 or left < 0 or top + height > h or left + width > w:
            box = f"top={top}, left={left}, height={height}, width={width}"
            raise ConfigError(f"box ({box}) must lie inside the {h}×{w} image with positive height and width")
        if height == h and width == w:
            raise ConfigError(f"box (height={height}, width={width}) covers the whole image; expected some pixels left")
        keep = torch.ones(h, w, dtype=torch.bool)
        keep[top : top + height, left : left + width] = False
        super().__init__(shape, keep, f"missing box {height}×{width} at ({top}, {left})")


class BlockAverage(MeasurementOperator):
    """Super-resolution: each factor×factor block's sum over `factor`, the scaling that gives unit-norm rows."""

    def __init__(self, shape: Sequence[int], factor: int = 4) -> None:
        c, h, w = _shape(shape)
        if int(factor) != factor or factor < 1 or h % factor or w % factor:
            raise ConfigError(f"factor must be a positive integer dividing the image size {h}×{w}, got {factor}")
        self.factor = int(factor)
        super().__init__(shape, c * (h // self.factor) * (w // self.factor), f"super-resolution ×{self.factor}")

    def measure(self, x: torch.Tensor) -> torch.Tensor:
        self._check_image(x)
        c, h, w, f = *self.shape, self.factor
        blocks = x.reshape(x.shape[0], c, h // f, f, w // f, f)
        return blocks.sum((3, 5)).reshape(x.shape[0], -1) / f

    def adjoint(self, c: torch.Tensor) -> torch.Tensor:
        self._check_measurement(c)
        ch, h, w, f = *self.shape, self.factor
        low = c.reshape(c.shape[0], ch, h // f, w // f) / f
        return low.repeat_interleave(f, 2).repeat_interleave(f, 3)


def _squared_frequencies(h: int, w: int) -> torch.Tensor:
    """k_h² + k_w² for every DCT coefficient of an h×w image."""
    return torch.arange(h).unsqueeze(1) ** 2 + torch.arange(w) ** 2


def dct_matrix(n: int) -> torch.Tensor:
    """The orthonormal DCT-II, n×n float64: row k is s_k·cos(π(2j+1)k / 2n), s_0 = √(1/n), else √(2/n)."""
    k = torch.arange(n, dtype=torch.float64).unsqueeze(1)
    j = torch.arange(n, dtype=torch.float64)
    d = torch.cos(math.pi * (2 * j + 1) * k / (2 * n)) * math.sqrt(2 / n)
    d[0] /= math.sqrt(2)
    return d


class SpectralLowpass(MeasurementOperator):
    """Deblurring as a spectral operator: the 2-D DCT coefficients with k_h² + k_w² ≤ radius², per channel."""

    def __init__(self, shape: Sequence[int], radius: float) -> None:
        c, h, w = _shape(shape)
        if not radius >= 0:
            raise ConfigError(f"radius must be a non-negative frequency index, got {radius}")
        self.dct_h, self.dct_w = dct_matrix(h), dct_matrix(w)
        self.keep = _squared_frequencies(h, w) <= radius**2
        self.radius = float(radius)
        super().__init__(shape, c * int(self.keep.sum()), f"spectral lowpass r={self.radius:.3g}")

    @classmethod
    def from_gaussian_blur(cls, shape: Sequence[int], blur_sigma: float, threshold: float = 0.01) -> SpectralLowpass:
        """Keep the frequencies a Gaussian blur of std `blur_sigma` pixels passes with gain ≥ `threshold`.

        DCT index k along a side of n pixels is the frequency ω = πk/n, where the blur's response is
        exp(−ω²σ_b²/2); so the gain ≥ t for k ≤ n·√(2 ln(1/t)) / (π σ_b). On non-square images n is
        the longer side, so the disc holds every coefficient the blur passes above the threshold.
        """
        if not blur_sigma > 0:
            raise ConfigError(f"blur_sigma must be positive, got {blur_sigma}")
        if not 0 < threshold < 1:
            raise ConfigError(f"threshold must be in (0, 1), got {threshold}")
        _, h, w = _shape(shape)
        return cls(shape, max(h, w) * math.sqrt(2 * math.log(1 / threshold)) / (math.pi * blur_sigma))

    def measure(self, x: torch.Tensor) -> torch.Tensor:
        self._check_image(x)
        dh, dw = self.dct_h.to(x), self.dct_w.to(x)
        coefficients = dh @ x @ dw.T
        return coefficients[..., self.keep.to(x.device)].reshape(x.shape[0], -1)

    def adjoint(self, c: torch.Tensor) -> torch.Tensor:
        self._check_measurement(c)
        dh, dw = self.dct_h.to(c), self.dct_w.to(c)
        coefficients = c.new_zeros(c.shape[0], *self.shape)
        coefficients[..., self.keep.to(c.device)] = c.reshape(c.shape[0], self.shape[0], -1)
        return dh.T @ coefficients @ dw


class CompressiveSensing(MeasurementOperator):
    """Compressive sensing: M spans a seeded random m-dimensional subspace; dense N×m, so for small images."""

    def __init__(self, shape: Sequence[int], m: int, seed: int = 0) -> None:
        n = math.prod(_shape(shape))
        if int(m) != m or not 1 <= m <= n:
            raise ConfigError(f"m must be an integer from 1 to N = {n}, got {m}")
        gaussian = torch.from_numpy(rng.generator(seed, "operator").standard_normal((n, int(m))))
        self.basis = torch.linalg.qr(gaussian).Q
        super().__init__(shape, int(m), f"compressive sensing m={int(m)} (seed {seed})")

    def measure(self, x: torch.Tensor) -> torch.Tensor:
        self._check_image(x)
        return x.reshape(x.shape[0], -1) @ self.basis.to(x)

    def adjoint(self, c: torch.Tensor) -> torch.Tensor:
        self._check_measurement(c)
        return (c @ self.basis.to(c).T).reshape(c.shape[0], *self.shape)


TASKS = {
    "pixels": ("fraction", "seed"),
    "box": ("top", "left", "height", "width"),
    "superres": ("factor",),
    "deblur": ("radius", "blur_sigma", "threshold"),
    "cs": ("m", "seed"),
}


def make_operator(task: str, shape: Sequence[int], **kwargs: float) -> MeasurementOperator:
    """The operator of an inverse-problem task by name, with the defaults of a typical experiment.

    pixels: 10% of the pixels; box: a hole of half the height and width in the centre; superres: ×4;
    deblur: the smallest radius keeping at least 1/16 of the coefficients (or `blur_sigma` [, `threshold`] for
    `SpectralLowpass.from_gaussian_blur`); cs: m = N/10.
    """
    if task not in TASKS:
        raise ConfigError(f"unknown task {task!r}; expected one of {', '.join(TASKS)}")
    unknown = sorted(set(kwargs) - set(TASKS[task]))
    if unknown:
        raise ConfigError(f"task {task!r} takes no {', '.join(unknown)}; expected some of {', '.join(TASKS[task])}")
    c, h, w = _shape(shape)
    if task == "pixels":
        return RandomPixels(shape, kwargs.get("fraction", 0.1), kwargs.get("seed", 0))
    if task == "box":
        height, width = kwargs.get("height", h // 2), kwargs.get("width", w // 2)
        top, left = kwargs.get("top", (h - height) // 2), kwargs.get("left", (w - width) // 2)
        return MissingBox(shape, top, left, height, width)
    if task == "superres":
        return BlockAverage(shape, kwargs.get("factor", 4))
    if task == "deblur":
        if "blur_sigma" in kwargs:
            if "radius" in kwargs:
                raise ConfigError("deblur takes either radius or blur_sigma, not both")
            return SpectralLowpass.from_gaussian_blur(shape, kwargs["blur_sigma"], kwargs.get("threshold", 0.01))
        if "threshold" in kwargs:
            raise ConfigError("threshold applies only with blur_sigma; expected blur_sigma as well")
        if "radius" in kwargs:
            return SpectralLowpass(shape, kwargs["radius"])
        sixteenth = _squared_frequencies(h, w).flatten().sort().values[max(1, h * w // 16) - 1]
        return SpectralLowpass(shape, math.sqrt(sixteenth))
    return CompressiveSensing(shape, kwargs.get("m", max(1, c * h * w // 10)), kwargs.get("seed", 0))
