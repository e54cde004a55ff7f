"""Stability of each block's spatial means across noise levels (paper §2.3, fig. 2): the block whose direction holds is φ."""

from __future__ import annotations

import warnings
from collections.abc import Mapping

import numpy as np

from ..errors import ConfigError
from .sparsity import checked_means, nearest_sigma_index


def cosine(a: np.ndarray, b: np.ndarray, axis: int = -1) -> np.ndarray:
    """cos(a, b) = ⟨a, b⟩ / (‖a‖·‖b‖) along `axis` (broadcasting), in float64; NaN where either vector is zero."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    try:
        dot = (a * b).sum(axis=axis)
    except ValueError as e:
        raise ConfigError(f"cosine needs arrays that broadcast, got shapes {a.shape} and {b.shape}") from e
    with np.errstate(invalid="ignore", divide="ignore"):
        return dot / (np.linalg.norm(a, axis=axis) * np.linalg.norm(b, axis=axis))


def stability(
    means: Mapping[str, np.ndarray], sigmas: np.ndarray, sigma_ref: float = 0.5
) -> tuple[dict, dict[str, np.ndarray]]:
    """cos(ā_j(x_σ1), ā_j(x_σ2)) per block for σ1 = the σ of `sigmas` nearest to `sigma_ref`, against every σ2.

    The cosine is taken per image and then averaged over images (images whose ā is zero at σ1 or σ2,
    as when ā collapses at σ = 0, are left out of that σ2's average).

    Metrics:
        sigma_ref: σ1, the noise level used (float).
        stability: {block: mean over all σ2 > 0 of the image-averaged cosine} (NaN if none is defined).
        most_stable_block: the block with the largest stability (None if no block has one).
    Arrays:
        sigmas: the S noise levels σ2.
        cosine/<block>: image-averaged cosine at each σ2 (S).
        cosine_std/<block>: its standard deviation over images (S).
    """
    means, sigmas = checked_means(means, sigmas)
    ref = nearest_sigma_index(sigmas, sigma_ref)
    metrics: dict = {"sigma_ref": float(sigmas[ref]), "stability": {}, "most_stable_block": None}
    arrays: dict[str, np.ndarray] = {"sigmas": sigmas}
    for name, a in means.items():
        curve, spread = image_average(cosine(a, a[:, ref : ref + 1, :]))
        positive = curve[(sigmas > 0) & np.isfinite(curve)]
        metrics["stability"][name] = float(positive.mean()) if positive.size else float("nan")
        arrays[f"cosine/{name}"], arrays[f"cosine_std/{name}"] = curve, spread
    scored = {k: v for k, v in metrics["stability"].items() if np.isfinite(v)}
    if scored:
        metrics["most_stable_block"] = max(scored, key=scored.__getitem__)
    return metrics, arrays


def image_average(c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard deviation over images (axis 0) of an N×S array, ignoring NaN; NaN where all are."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # an all-NaN column is documented to give NaN
        return np.nanmean(c, axis=0), np.nanstd(c, axis=0)
