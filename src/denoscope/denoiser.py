"""The denoisers every later stage uses: a trained BlindUNet behind one contract, and a Gaussian prior's closed form.

Contract (as edm's preconditioned net and deepinv's denoisers): `D(y)` is the estimate of the clean image from a
noisy one; `residual(y) = D(y) − y` is proportional to σ²·∇log p(y). Gradients flow as the caller's grad mode says.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import torch
import torch.nn.functional as F

from . import rng
from .config import ModelConfig
from .errors import ConfigError
from .nn.unet import BlindUNet

CHUNK = 64  # noisy images per network call unless asked: the CLI's --chunk, the API's batch_size


def padding_needed(h: int, w: int, factor: int) -> tuple[int, int]:
    """Rows and columns added at the bottom and right to reach the next multiple of `factor`."""
    return -h % factor, -w % factor


def pad_to_multiple(y: torch.Tensor, factor: int) -> torch.Tensor:
    """Reflect-pad right/bottom; replicate where the image is too small to reflect."""
    h, w = y.shape[-2:]
    ph, pw = padding_needed(h, w, factor)
    if not ph and not pw:
        return y
    mode = "reflect" if ph < h and pw < w else "replicate"
    return F.pad(y, (0, pw, 0, ph), mode=mode)


def apply_head(head: str, y: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
    """D(y) from the backbone's output on y: y − out for a residual head (out predicts the noise), out itself for an
    image head. The one route to D(y): `Denoiser` and training's loss both take it."""
    return y - out if head == "residual" else out


class Denoiser:
    """D(y) (the backbone's output through `apply_head`), f(y) = D(y) − y, block maps, block means ā_j and φ of a
    trained BlindUNet: always eval mode, weights frozen, any image size (reflect-padded to a multiple of 2^blocks, cropped back), in chunks of `batch_size`."""

    def __init__(self, net: BlindUNet, batch_size: int = CHUNK, source: Path | None = None):
        if batch_size < 1:
            raise ConfigError(f"batch size must be at least 1, got {batch_size}")
        self.net = net.eval().requires_grad_(False)
        self.batch_size = batch_size
        self.source = source  # the weights file it was loaded from, if any

    @property
    def config(self) -> ModelConfig:
        return self.net.config

    @property
    def device(self) -> torch.device:
        return next(self.net.parameters()).device

    @property
    def factor(self) -> int:
        return self.net.factor

    def to(self, device: torch.device | str) -> "Denoiser":
        self.net.to(device)
        return self

    def _chunks(self, y: torch.Tensor):
        if y.ndim != 4 or y.shape[1] != self.config.channels:
            raise ConfigError(f"expected images shaped N×{self.config.channels}×H×W, got {tuple(y.shape)}")
        for chunk in y.split(self.batch_size):
            yield pad_to_multiple(chunk.to(self.device), self.factor)

    def __call__(self, y: torch.Tensor) -> torch.Tensor:
        """D(y), on y's device."""
        h, w = y.shape[-2:]
        return torch.cat([apply_head(self.config.head, c, self.net(c))[..., :h, :w].to(y.device) for c in self._chunks(y)])

    def residual(self, y: torch.Tensor) -> torch.Tensor:
        """f(y) = D(y) − y: σ² times the score of the noisy density (Miyasawa/Tweedie)."""
        return self(y) - y

    def blocks(self, y: torch.Tensor, names: tuple[str, ...] | None = None, inputs: bool = False) -> dict[str, torch.Tensor]:
        """Maps at the output (and with `inputs`, `NAME.in` at the input) of the named blocks, cropped to the
        image's own region; no block after the last named one runs."""
        names = names or self.config.block_names
        order = self.config.block_names
        unknown = [n for n in names if n not in order]
        if unknown:
            raise ConfigError(f"unknown block(s) {', '.join(unknown)}; expected some of {', '.join(order)}")
        last = max(names, key=order.index)
        h, w = y.shape[-2:]
        keep = [*names, *(f"{n}.in" for n in names)] if inputs else list(names)
        parts: dict[str, list[torch.Tensor]] = {k: [] for k in keep}
        for c in self._chunks(y):
            out = self.net.forward_blocks(c, stop_after=last, inputs=inputs)
            for k in keep:
                m = out[k]
                scale = c.shape[-1] // m.shape[-1]
                parts[k].append(m[..., : math.ceil(h / scale), : math.ceil(w / scale)])
        return {k: torch.cat(v) for k, v in parts.items()}

    def means(self, y: torch.Tensor, names: tuple[str, ...] = ("mid",), inputs: bool = False) -> dict[str, torch.Tensor]:
        """ā_j(y): the spatial mean of every channel of each named block, N×C_j."""
        return {k: m.mean(dim=(-2, -1)) for k, m in self.blocks(y, names, inputs).items()}

    def mid_mean(self, y: torch.Tensor) -> torch.Tensor:
        """ā_mid(y) of one noisy image; φ(x, σ) is its mean over draws of y = x + σz."""
        return self.means(y, ("mid",))["mid"]

    def phi(self, x: torch.Tensor, sigmas: Sequence[float], draws: int = 20, seed: int = 0,
            ids: Sequence[int] | torch.Tensor | None = None, use: tuple[int, ...] = ()) -> torch.Tensor:
        """φ(x, σ) = E_z ā_mid(x + σz), N×S×C: z keyed by (seed, *use, image id, draw), ids 0 … N−1 unless given;
        `use` (from rng.NOISE_USES) keeps one seed's noise for different uses apart."""
        ids = range(len(x)) if ids is None else ids
        return noise_averaged_means(self, x.to(self.device), ids, tuple(sigmas), draws, seed, use=use)["mid"]


def noise_averaged_means(
    denoiser: Denoiser, x: torch.Tensor, ids: Sequence[int] | torch.Tensor, sigmas: tuple[float, ...], draws: int, seed: int,
    blocks: tuple[str, ...] = ("mid",), inputs: bool = False, use: tuple[int, ...] = (),
) -> dict[str, torch.Tensor]:
    """E_z ā_j(x + σz) per image and σ (B×S×C_j), z keyed by (seed, *use, image id, draw) and shared by every σ; one
    draw at σ = 0."""
    ids = torch.as_tensor(ids, device=x.device)
    z = rng.normal(rng.key(seed, *use, ids[:, None], torch.arange(draws, device=x.device)[None, :]), x.shape[1:]).to(x.dtype)
    out: dict[str, list[torch.Tensor]] = {}
    for sigma in sigmas:
        d = 1 if sigma == 0 else draws
        y = (x[:, None] + sigma * z[:, :d]).flatten(0, 1)
        for name, m in denoiser.means(y, blocks, inputs).items():
            out.setdefault(name, []).append(m.unflatten(0, (len(x), d)).mean(1))
    return {name: torch.stack(v, dim=1) for name, v in out.items()}


class GaussianDenoiser:
    """The MMSE denoiser of a Gaussian prior N(μ, C) on images of `shape`: D(y) = μ + C(C + σ²I)⁻¹(y − μ).

    Blind like the network: without `sigma` it estimates σ² per image by maximum likelihood under
    y ~ N(μ, C + σ²I). Known answers for samplers and the density distance.
    """

    def __init__(self, mean: torch.Tensor, cov: torch.Tensor, shape: tuple[int, ...], sigma: float | None = None):
        n = math.prod(shape)
        if mean.numel() != n or cov.shape != (n, n):
            raise ConfigError(f"a Gaussian prior on {shape} images needs a mean of {n} values and a {n}×{n} covariance")
        self.shape = tuple(shape)
        self.mean = mean.reshape(n).double()
        self.cov = cov.double()
        self.eigvals, self.eigvecs = torch.linalg.eigh((self.cov + self.cov.T) / 2)
        self.eigvals = self.eigvals.clamp_min(0)
        self.sigma = sigma

    def coefficients(self, y: torch.Tensor) -> torch.Tensor:
        return (y.reshape(len(y), -1).double() - self.mean) @ self.eigvecs

    def estimate_sigma(self, y: torch.Tensor, iters: int = 60) -> torch.Tensor:
        """Per-image ML estimate of σ: the root in s = σ² of Σ_i 1/(λ_i+s) − c_i²/(λ_i+s)², by bisection on log s."""
        c2 = self.coefficients(y).square()
        lo = torch.full((len(y),), -30.0, dtype=torch.float64)
        hi = torch.full((len(y),), math.log(float(c2.sum(1).max()) + 1.0), dtype=torch.float64)
        for _ in range(iters):
            mid = (lo + hi) / 2
            v = self.eigvals + mid.exp()[:, None]
            grad = (1 / v - c2 / v.square()).sum(1)  # d(−log-likelihood)/ds: negative below the optimum
            lo, hi = torch.where(grad < 0, mid, lo), torch.where(grad < 0, hi, mid)
        return ((lo + hi) / 2).exp().sqrt()

    def __call__(self, y: torch.Tensor, sigma: torch.Tensor | float | None = None) -> torch.Tensor:
        if sigma is None:
            sigma = self.sigma if self.sigma is not None else self.estimate_sigma(y)
        s2 = torch.as_tensor(sigma, dtype=torch.float64).reshape(-1, 1).square()
        shrink = self.eigvals / (self.eigvals + s2)  # N×n (or 1×n)
        d = self.mean + (shrink * self.coefficients(y)) @ self.eigvecs.T
        return d.reshape(y.shape).to(y.dtype)

    def residual(self, y: torch.Tensor, sigma: torch.Tensor | float | None = None) -> torch.Tensor:
        return self(y, sigma) - y

    def mmse(self, sigma: float) -> float:
        """Expected squared error per pixel of D at noise level σ: tr(C − C(C+σ²I)⁻¹C)/n = mean of λσ²/(λ+σ²)."""
        return float((self.eigvals * sigma**2 / (self.eigvals + sigma**2)).mean())
