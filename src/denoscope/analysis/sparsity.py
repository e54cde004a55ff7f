"""Channel sparsity of each block's spatial means (paper §2.2, fig. 1): the participation ratio per image."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

import numpy as np

from ..errors import ConfigError


def participation_ratio(v: np.ndarray, axis: int = -1) -> np.ndarray:
    """PR(v) = ‖v‖₁² / (d·‖v‖₂²) along `axis`, d the size of that axis, in float64.

    PR ∈ (0, 1]: 1/d for a one-hot vector, k/d for k equal non-zeros, 1 for a constant vector;
    invariant to the scale of v. An all-zero vector has no defined PR: it gets NaN.
    """
    v = np.asarray(v, dtype=np.float64)
    if not -v.ndim <= axis < v.ndim or v.shape[axis] == 0:
        raise ConfigError(f"participation_ratio needs a non-empty axis {axis}, got an array of shape {v.shape}")
    l1 = np.abs(v).sum(axis=axis)
    l2_squared = np.square(v).sum(axis=axis)
    with np.errstate(invalid="ignore", divide="ignore"):
        return l1**2 / (v.shape[axis] * l2_squared)


def feature_blocks(names: Iterable[str]) -> list[str]:
    """Block outputs of figs. 1–2, E2 … D2 in the network's order: not inputs, not enc1 (after the image) nor dec1 (the image)."""
    def order(b: str) -> tuple[int, int]:
        return (1, 0) if b == "mid" else (0, int(b[3:])) if b.startswith("enc") else (2, -int(b[3:]))
    kept = [b for b in names if re.fullmatch(r"enc\d+|mid|dec\d+", b) and b not in ("enc1", "dec1")]
    return sorted(kept, key=order)


def checked_means(means: Mapping[str, np.ndarray], sigmas: np.ndarray) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Block means as float64 N×S×C arrays that agree with the 1-D `sigmas` (length S), or ConfigError."""
    sigmas = np.asarray(sigmas, dtype=np.float64)
    if sigmas.ndim != 1 or sigmas.size == 0 or not np.isfinite(sigmas).all():
        raise ConfigError(f"sigmas must be a non-empty 1-D array of finite noise levels, got shape {sigmas.shape}")
    if not means:
        raise ConfigError("means must hold at least one block, got none")
    checked = {}
    for name, a in means.items():
        a = np.asarray(a, dtype=np.float64)
        if a.ndim != 3 or a.shape[0] == 0 or a.shape[2] == 0 or a.shape[1] != sigmas.size:
            raise ConfigError(
                f"means[{name!r}] must be N×S×C with N, C ≥ 1 and S = len(sigmas) = {sigmas.size}, got shape {a.shape}"
            )
        if not np.isfinite(a).all():
            raise ConfigError(f"means[{name!r}] must hold finite values only")
        checked[name] = a
    return checked, sigmas


def nearest_sigma_index(sigmas: np.ndarray, sigma: float) -> int:
    """Index of the noise level in `sigmas` nearest to `sigma` (the first one on a tie)."""
    if not np.isfinite(sigma):
        raise ConfigError(f"sigma must be a finite noise level, got {sigma}")
    return int(np.argmin(np.abs(np.asarray(sigmas) - sigma)))


def sparsity(
    means: Mapping[str, np.ndarray], sigmas: np.ndarray, sigma: float, bins: int = 50
) -> tuple[dict, dict[str, np.ndarray]]:
    """PR of ā_j(x_σ) per image for every block, at the σ of `sigmas` nearest to `sigma` (fig. 1).

    Metrics:
        sigma: the noise level used (float).
        pr_median: {block: median PR over images} (NaN where every image's ā is zero).
        pr_mean: {block: mean PR over images}.
        pr_quartiles: {block: [first, third] quartile of PR over images}.
        zero_images: {block: number of images whose ā is all zero, left out (PR undefined)}.
        pr_rises: {block: fraction of images whose PR at the block's output exceeds that at its input}, for every
            block whose input means ("<block>.in") are given too (images with either PR undefined left out).
    Arrays:
        bin_edges: the `bins` + 1 edges shared by every histogram, over (0, 1].
        pr/<block>: PR per image (N, NaN for an all-zero ā).
        counts/<block>: histogram counts of the defined PRs on bin_edges.
    """
    means, sigmas = checked_means(means, sigmas)
    if not isinstance(bins, int) or bins < 1:
        raise ConfigError(f"bins must be a positive integer, got {bins!r}")
    s = nearest_sigma_index(sigmas, sigma)
    edges = np.linspace(0.0, 1.0, bins + 1)
    metrics: dict = {"sigma": float(sigmas[s]), "pr_median": {}, "pr_mean": {}, "pr_quartiles": {}, "zero_images": {}}
    arrays: dict[str, np.ndarray] = {"bin_edges": edges}
    for name, a in means.items():
        pr = participation_ratio(a[:, s, :], axis=-1)
        defined = pr[np.isfinite(pr)]
        metrics["pr_median"][name] = float(np.median(defined)) if defined.size else float("nan")
        metrics["pr_mean"][name] = float(defined.mean()) if defined.size else float("nan")
        metrics["pr_quartiles"][name] = np.quantile(defined, [0.25, 0.75]).tolist() if defined.size else [float("nan")] * 2
        metrics["zero_images"][name] = int(pr.size - defined.size)
        arrays[f"pr/{name}"] = pr
        arrays[f"counts/{name}"] = np.histogram(defined, bins=edges)[0]
    metrics["pr_rises"] = {name: rise_fraction(arrays[f"pr/{name}"], arrays[f"pr/{name}.in"])
                           for name in means if f"{name}.in" in means}
    return metrics, arrays


def rise_fraction(output: np.ndarray, given: np.ndarray) -> float:
    """Fraction of images whose output PR exceeds their input PR, over images where both are defined (NaN if none)."""
    both = np.isfinite(output) & np.isfinite(given)
    return float(np.mean(output[both] > given[both])) if both.any() else float("nan")
