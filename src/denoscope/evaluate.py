"""The denoise stage: seeded noise on held-out images, D(y) in eval mode, PSNR and SSIM per σ beside the noisy input's."""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

import numpy as np
import torch

from .data.dataset import to_tensor
from .data.transforms import center_crop
from .denoiser import Denoiser, padding_needed
from .errors import ConfigError, DataError
from .metrics import psnr, ssim
from .progress import stage_bar
from .results import StageResult
from .rng import image_noise

if TYPE_CHECKING:
    from .data import ImageSet

EXAMPLES = "examples"  # examples.npz
FIGURE = "denoised.png"


def check_sigmas(sigmas: Sequence[float]) -> None:
    if not sigmas or not all(np.isfinite(s) and s > 0 for s in sigmas):
        raise ConfigError(f"noise levels σ must be positive finite numbers, at least one; got {list(sigmas)}")


@torch.no_grad()
def heldout_psnr(denoiser: Denoiser, clean: torch.Tensor, sigmas: Sequence[float], seed: int = 0) -> dict[str, dict[str, float]]:
    """Mean PSNR of D(y) and of y on a fixed held-out batch: the training loop's generalisation check."""
    check_sigmas(sigmas)
    scores: dict[str, dict[str, float]] = {"psnr": {}, "psnr_input": {}}
    z = image_noise(clean.shape[1:], seed, range(len(clean)), device=clean.device)
    for sigma in sigmas:
        y = clean + sigma * z
        scores["psnr"][f"{sigma:g}"] = psnr(denoiser(y), clean).mean().item()
        scores["psnr_input"][f"{sigma:g}"] = psnr(y, clean).mean().item()
    return scores


def hwc(x: torch.Tensor) -> np.ndarray:
    """C×H×W tensor → H×W×C float32 array, the layout figures draw."""
    return x.permute(1, 2, 0).cpu().numpy().astype(np.float32)


def batches_by_size(sizes: np.ndarray, batch_size: int) -> list[list[int]]:
    """Indices grouped by image size, then cut into batches."""
    groups: dict[tuple[int, int], list[int]] = {}
    for i, (h, w) in enumerate(sizes):
        groups.setdefault((int(h), int(w)), []).append(i)
    return [idx[k : k + batch_size] for idx in groups.values() for k in range(0, len(idx), batch_size)]


def stack_examples(clean: list[np.ndarray], noisy: list[list[np.ndarray]], denoised: list[list[np.ndarray]], sigmas: Sequence[float]) -> dict[str, np.ndarray]:
    """Centre-crop the example images to their smallest common size so they stack."""
    h = min(a.shape[0] for a in clean)
    w = min(a.shape[1] for a in clean)

    def crop(arrays: list[np.ndarray]) -> np.ndarray:
        return np.stack([center_crop(a, h, w) for a in arrays])

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


@torch.no_grad()
def score_batch(denoiser: Denoiser, images: ImageSet, idx: list[int], sigmas: Sequence[float], seed: int, scores: dict,
                examples: tuple[list, list, list], e: int) -> None:
    """PSNR/SSIM of one batch of same-size images at every σ into `scores`; the first `e` images kept as examples."""
    clean, noisy, denoised = examples
    x = torch.stack([to_tensor(images[i]) for i in idx]).to(denoiser.device)
    z = image_noise(x.shape[1:], seed, idx, device=x.device)
    for s, sigma in enumerate(sigmas):
        y = x + sigma * z
        d = denoiser(y)
        values = torch.stack([psnr(d, x), psnr(y, x), ssim(d, x), ssim(y, x)]).cpu()  # one copy back per σ
        for name, v in zip(("psnr", "psnr_input", "ssim", "ssim_input"), values):
            scores[name][s, idx] = v.double()
        for j, i in enumerate(idx):
            if i < e:
                noisy[s][i], denoised[s][i], clean[i] = hwc(y[j]), hwc(d[j]), hwc(x[j])


def denoise(
    denoiser: Denoiser,
    images: ImageSet,
    sigmas: Sequence[float],
    seed: int = 0,
    max_images: int | None = None,
    batch_size: int = 16,
    progress: bool = False,
    examples: int = 4,
) -> StageResult:
    """PSNR/SSIM of D(y) and of y per σ over whole images of any size, image i's noise keyed by (seed, i); the first
    `examples` images' clean, noisy and denoised arrays in `arrays["examples"]`. Writes nothing (`.save(out)` does)."""
    check_sigmas(sigmas)
    if images.channels != denoiser.config.channels:
        raise DataError(
            f"{images.name} has {images.channels}-channel images but the model denoises {denoiser.config.channels}-channel images"
        )
    for name, value, low in (("examples", examples, 1), ("batch size", batch_size, 1), ("max images", 1 if max_images is None else max_images, 1)):
        if value < low:
            raise ConfigError(f"{name} must be at least {low}, got {value}")
    n = len(images) if max_images is None else min(max_images, len(images))
    e = min(examples, n)
    scores = {k: torch.zeros(len(sigmas), n, dtype=torch.float64) for k in ("psnr", "psnr_input", "ssim", "ssim_input")}
    noisy = [[None] * e for _ in sigmas]
    denoised = [[None] * e for _ in sigmas]
    clean = [None] * e
    sizes = images.sizes[:n]
    with stage_bar("denoise", n, progress) as update:
        for idx in batches_by_size(sizes, batch_size):
            score_batch(denoiser, images, idx, sigmas, seed, scores, (clean, noisy, denoised), e)
            update(advance=len(idx))
    padded = int(sum(any(padding_needed(int(h), int(w), denoiser.factor)) for h, w in sizes))
    metrics = {
        "source": images.name,
        "images": n,
        "seed": seed,
        "padded": padded,
        "padding": f"reflect to a multiple of {denoiser.factor}" if padded else "none",
        "sigma": summarise(scores, sigmas),
    }
    return StageResult("denoise", metrics, {EXAMPLES: stack_examples(clean, noisy, denoised, sigmas)})


def summary_lines(metrics: dict) -> list[str]:
    """One line per σ of what `denoise` measured, for the terminal."""
    return [
        f"σ={s}: PSNR {m['psnr']:.2f} dB (noisy {m['psnr_input']:.2f} dB), SSIM {m['ssim']:.3f}"
        for s, m in metrics["sigma"].items()
    ]
