"""Denoising evaluation: seeded Gaussian noise, padded denoising of any image size, PSNR and SSIM per σ."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .checkpoint import atomic_path, write_text
from .data.dataset import to_tensor

if TYPE_CHECKING:
    from .data import ImageSet


def psnr(x: torch.Tensor, y: torch.Tensor, peak: float = 1.0) -> torch.Tensor:
    """Per-image 10·log10(peak²/MSE) in float64; identical images give inf."""
    mse = (x.double() - y.double()).square().flatten(1).mean(1)
    return 10 * torch.log10(peak**2 / mse)


def gaussian_window(size: int = 11, sigma: float = 1.5) -> torch.Tensor:
    t = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-t.square() / (2 * sigma**2))
    g = g / g.sum()
    return torch.outer(g, g).float()


def ssim(x: torch.Tensor, y: torch.Tensor, peak: float = 1.0) -> torch.Tensor:
    """Per-image SSIM of Wang et al. 2004: 11×11 Gaussian window (σ=1.5), valid positions, mean over channels.

    Local statistics are float32 (CPU conv2d in float64 is some 40× slower), taken of images centred on
    their means so that var = E[x²] − μ² does not cancel away the digits of flat regions.
    """
    if min(x.shape[-2:]) < 11:
        raise ValueError(f"SSIM needs images of at least 11×11 pixels, got {x.shape[-2]}×{x.shape[-1]}")
    x, y = x.float(), y.float()
    c = x.shape[1]
    w = gaussian_window().to(x.device).expand(c, 1, 11, 11)

    def blur(t: torch.Tensor) -> torch.Tensor:
        return F.conv2d(t, w, groups=c)

    x_mean, y_mean = x.mean((2, 3), keepdim=True), y.mean((2, 3), keepdim=True)
    u, v = x - x_mean, y - y_mean
    mu_u, mu_v = blur(u), blur(v)
    var_x = blur(u * u) - mu_u.square()
    var_y = blur(v * v) - mu_v.square()
    cov = blur(u * v) - mu_u * mu_v
    mu_x, mu_y = mu_u + x_mean, mu_v + y_mean
    c1, c2 = (0.01 * peak) ** 2, (0.03 * peak) ** 2
    s = (2 * mu_x * mu_y + c1) * (2 * cov + c2) / ((mu_x.square() + mu_y.square() + c1) * (var_x + var_y + c2))
    return s.flatten(1).mean(1, dtype=torch.float64)


def unit_noise(shape: Sequence[int], seed: int, index: int) -> torch.Tensor:
    """N(0, 1) noise of image `index` from its own generator: the same on every device and in every batch.

    numpy's PCG64 takes all of (seed, index); torch's CPU generator would keep only 32 bits of a combined seed.
    """
    rng = np.random.default_rng((seed, index))
    return torch.from_numpy(rng.standard_normal(tuple(shape), dtype=np.float32))


def noise_for(x: torch.Tensor, seed: int, indices: Iterable[int]) -> torch.Tensor:
    return torch.stack([unit_noise(x.shape[1:], seed, i) for i in indices]).to(x)


def add_noise(x: torch.Tensor, sigma: float, seed: int, offset: int = 0) -> torch.Tensor:
    """y = x + σ·z, image k's z seeded by (seed, offset + k); every σ reuses the same z."""
    return x + sigma * noise_for(x, seed, range(offset, offset + len(x)))


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


@torch.no_grad()
def denoise(model: nn.Module, y: torch.Tensor, batch_size: int = 64) -> torch.Tensor:
    """D(y) in eval mode and in batches, for any H×W (padded to `model.factor` and cropped back)."""
    device = next(model.parameters()).device
    h, w = y.shape[-2:]
    was_training = model.training
    model.eval()
    try:
        out = [
            model(pad_to_multiple(chunk.to(device), model.factor))[..., :h, :w].to(y.device)
            for chunk in y.split(batch_size)
        ]
    finally:
        model.train(was_training)
    return torch.cat(out)


def check_sigmas(sigmas: Sequence[float]) -> None:
    if not sigmas or min(sigmas) <= 0:
        raise ValueError(f"noise levels σ must be positive and at least one given, got {list(sigmas)}")


def heldout_psnr(
    model: nn.Module, clean: torch.Tensor, sigmas: Sequence[float], seed: int = 0, batch_size: int = 64
) -> dict[str, dict[str, float]]:
    """Mean PSNR of D(y) and of y on a fixed held-out batch: the training loop's generalisation check."""
    check_sigmas(sigmas)
    scores: dict[str, dict[str, float]] = {"psnr": {}, "psnr_input": {}}
    z = noise_for(clean, seed, range(len(clean)))
    for sigma in sigmas:
        y = clean + sigma * z
        scores["psnr"][f"{sigma:g}"] = psnr(denoise(model, y, batch_size), clean).mean().item()
        scores["psnr_input"][f"{sigma:g}"] = psnr(y, clean).mean().item()
    return scores


def to_array(x: torch.Tensor) -> np.ndarray:
    return x.permute(1, 2, 0).numpy().astype(np.float32)


def batches_by_size(arrays: Sequence[np.ndarray], batch_size: int) -> list[list[int]]:
    """Indices grouped by image size, then cut into batches."""
    groups: dict[tuple[int, int], list[int]] = {}
    for i, a in enumerate(arrays):
        groups.setdefault(a.shape[:2], []).append(i)
    return [idx[k : k + batch_size] for idx in groups.values() for k in range(0, len(idx), batch_size)]


def centre_crop(a: np.ndarray, h: int, w: int) -> np.ndarray:
    top, left = (a.shape[0] - h) // 2, (a.shape[1] - w) // 2
    return a[top : top + h, left : left + w]


def stack_examples(
    clean: list[np.ndarray], noisy: list[list[np.ndarray]], denoised: list[list[np.ndarray]], sigmas: Sequence[float]
) -> dict[str, np.ndarray]:
    """Centre-crop the example images to their smallest common size so they stack."""
    h = min(a.shape[0] for a in clean)
    w = min(a.shape[1] for a in clean)

    def crop(arrays: list[np.ndarray]) -> np.ndarray:
        return np.stack([centre_crop(a, h, w) for a in arrays])

    return {
        "clean": crop(clean),
        "noisy": np.stack([crop(row) for row in noisy]),
        "denoised": np.stack([crop(row) for row in denoised]),
        "sigmas": np.asarray(sigmas, dtype=np.float64),
    }


def summarise(scores: dict[str, torch.Tensor], sigmas: Sequence[float]) -> dict[str, dict[str, float]]:
    """Means over images per σ, and the spread of the denoised PSNR."""
    return {
        f"{sigma:g}": {**{k: v[s].mean().item() for k, v in scores.items()}, "psnr_std": scores["psnr"][s].std(correction=0).item()}
        for s, sigma in enumerate(sigmas)
    }


def evaluate_images(
    model: nn.Module,
    images: ImageSet,
    sigmas: Sequence[float],
    seed: int = 0,
    batch_size: int = 16,
    examples: int = 4,
    max_images: int | None = None,
) -> tuple[dict, dict[str, np.ndarray]]:
    """PSNR/SSIM of D(y) and of y per σ over whole images of any size (all n uint8 images are held in memory)."""
    check_sigmas(sigmas)
    if images.channels != model.config.channels:
        raise ValueError(
            f"{images.name} has {images.channels}-channel images but the model denoises {model.config.channels}-channel images"
        )
    if examples < 1:
        raise ValueError(f"examples must be at least 1, got {examples}")
    n = len(images) if max_images is None else min(max_images, len(images))
    if n < 1:
        raise ValueError(f"no images to evaluate from {images.name}")
    arrays = [images[i] for i in range(n)]
    e = min(examples, n)
    scores = {k: torch.zeros(len(sigmas), n, dtype=torch.float64) for k in ("psnr", "psnr_input", "ssim", "ssim_input")}
    noisy = [[None] * e for _ in sigmas]
    denoised = [[None] * e for _ in sigmas]
    for idx in batches_by_size(arrays, batch_size):
        x = torch.stack([to_tensor(arrays[i]) for i in idx])
        z = noise_for(x, seed, idx)
        for s, sigma in enumerate(sigmas):
            y = x + sigma * z
            d = denoise(model, y, batch_size)
            scores["psnr"][s, idx] = psnr(d, x)
            scores["psnr_input"][s, idx] = psnr(y, x)
            scores["ssim"][s, idx] = ssim(d, x)
            scores["ssim_input"][s, idx] = ssim(y, x)
            for j, i in enumerate(idx):
                if i < e:
                    noisy[s][i], denoised[s][i] = to_array(y[j]), to_array(d[j])
    padded = sum(any(padding_needed(*a.shape[:2], model.factor)) for a in arrays)
    metrics = {
        "source": images.name,
        "images": n,
        "seed": seed,
        "padded": padded,
        "padding": f"reflect to a multiple of {model.factor}" if padded else "none",
        "sigma": summarise(scores, sigmas),
    }
    clean = [to_array(to_tensor(a)) for a in arrays[:e]]
    return metrics, stack_examples(clean, noisy, denoised, sigmas)


def summary_lines(metrics: dict) -> list[str]:
    """One line per σ of what evaluate_images measured, for the terminal."""
    return [
        f"σ={s}: PSNR {m['psnr']:.2f} dB (noisy {m['psnr_input']:.2f} dB), SSIM {m['ssim']:.3f}"
        for s, m in metrics["sigma"].items()
    ]


def write_denoise_report(out_dir: str | Path, metrics: dict, examples: dict[str, np.ndarray]) -> None:
    """metrics.json, examples.npz and denoised.png, each written whole or not at all (matplotlib loads only here)."""
    from .report.figures import denoise_figure

    out = Path(out_dir)
    write_text(out / "metrics.json", json.dumps(metrics, indent=2) + "\n")
    tmp = atomic_path(out / "examples.npz")
    with open(tmp, "wb") as f:
        np.savez(f, **examples)
    os.replace(tmp, out / "examples.npz")
    denoise_figure(examples, out / "denoised.png")
