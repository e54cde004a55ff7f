"""Stability of each block's spatial means across noise levels (paper §2.3, fig. 2): the block whose direction holds is φ."""

from __future__ import annotations

import warnings
from collections.abc import Mapping

import numpy as np

from ..errors import ConfigError
from .sparsity import checked_means, feature_blocks, nearest_sigma_index

SIGMA_LOW = 0.1  # fig. 2: "ā collapses as σ falls to zero"; levels below this are left out of the averages


def cosine(a: np.ndarray, b: np.ndarray, axis: int = -1) -> np.ndarray:
    """cos(a, b) = ⟨a, b⟩ / (‖a‖·‖b‖) along `axis` (broadcasting), in float64; NaN where either vector is zero."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    try:
        dot = (a * b).sum(axis=axis)
    except ValueError as e:
        raise ConfigError(f"cosine needs arrays that broadcast, got shapes {a.shape} and {b.shape}") from e
    with np.errstate(invalid="ignore", divide="ignore"):
        return dot / (np.linalg.norm(a, axis=axis) * np.linalg.norm(b, axis=axis))


def compared_levels(sigmas: np.ndarray, ref: int, sigma_low: float, sigma_high: float) -> np.ndarray:
    """Boolean mask of the σ₂ averaged over: within [sigma_low, sigma_high], σ₁ itself left out (its cosine is 1 by construction)."""
    levels = (sigmas >= sigma_low) & (sigmas <= sigma_high)
    levels[ref] = False
    return levels


def level_average(curve: np.ndarray, levels: np.ndarray) -> float:
    """Mean of an image-averaged cosine curve over the compared σ₂ (NaN if none is defined)."""
    kept = curve[levels & np.isfinite(curve)]
    return float(kept.mean()) if kept.size else float("nan")


def centred(a: np.ndarray) -> np.ndarray:
    """ā minus its mean over images at each σ: what tells one image from another, without the common channels."""
    return a - a.mean(axis=0, keepdims=True)


def per_image(c: np.ndarray, levels: np.ndarray) -> np.ndarray:
    """Each image's cosine averaged over the compared σ₂ (N; NaN where none is defined)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # an image whose ā is zero at every σ₂ is documented to give NaN
        return np.nanmean(np.where(levels[None, :], c, np.nan), axis=1)


def difference_se(scores: Mapping[str, np.ndarray], against: str = "mid") -> dict[str, float]:
    """Standard error over images of the paired difference of `against`'s per-image score and each other block's:
    the noise of comparing two blocks' stabilities on these images (NaN with fewer than 2 images defined)."""
    out = {}
    for name, values in scores.items():
        diff = scores[against] - values
        diff = diff[np.isfinite(diff)]
        out[name] = float(diff.std(ddof=1) / np.sqrt(diff.size)) if diff.size > 1 else float("nan")
    return out


def channel_stability(a: np.ndarray, ref: int, levels: np.ndarray) -> np.ndarray:
    """Per channel, the cosine over images of its values at σ₁ and at σ₂, averaged over the compared σ₂ (C; NaN if dead).

    Given centred(a), this is the correlation over images: a channel that is about as large on every image has a raw
    cosine near 1 whatever the noise does to it, and only its correlation says whether it tells the same images apart.
    """
    c = cosine(a, a[:, ref : ref + 1, :], axis=0)  # S×C
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a channel zero at every σ is documented to give NaN
        return np.nanmean(np.where(levels[:, None], c, np.nan), axis=0)


def stability(
    means: Mapping[str, np.ndarray], sigmas: np.ndarray, sigma_ref: float = 0.5, sigma_low: float = SIGMA_LOW,
    sigma_high: float = np.inf,
) -> tuple[dict, dict[str, np.ndarray]]:
    """cos(ā_j(x_σ1), ā_j(x_σ2)) per block for σ1 = the σ of `sigmas` nearest to `sigma_ref`, against every σ2.

    The cosine is taken per image and then averaged over images (images whose ā is zero at σ1 or σ2,
    as when ā collapses at σ = 0, are left out of that σ2's average). Beside the paper's raw cosine, two checks
    of whether it says anything about the image: the centred cosine (ā minus its mean over images at each σ,
    so that a few large channels common to every image cannot make it high) and the raw cosine between one
    image's ā at σ1 and the next image's at σ2 (what the raw cosine is between unrelated images).

    Metrics:
        sigma_ref: σ1, the noise level used (float).
        sigma_levels: the σ2 averaged over: those in [sigma_low, sigma_high] other than σ1 (list).
        stability: {block: mean over those σ2 of the image-averaged cosine} (NaN if none is defined).
        centred_stability: {block: the same for the centred cosine}.
        other_image_cosine: {block: the same for the cosine of ā(x, σ1) with ā(x', σ2), x' the next image}.
        most_stable_block: the first of stability_ranking (None if no block of fig. 2 has a stability).
    Arrays:
        sigmas: the S noise levels σ2.
        cosine/<block>, centred/<block>, other_image/<block>: image-averaged cosines at each σ2 (S).
        cosine_std/<block>: the raw cosine's standard deviation over images (S).
        With a "mid" block, metrics difference_se and centred_difference_se: {block: standard error over images of
        mid's per-image score minus the block's} (difference_se), for the raw and the centred cosine.
        channel_cosine/<block>: per channel, the cosine over images of its values at σ1 and σ2, averaged over the σ2 (C).
        channel_correlation/<block>: the same with each σ's channel mean over images subtracted (a correlation).
    """
    means, sigmas = checked_means(means, sigmas)
    if not sigma_low <= sigma_high:
        raise ConfigError(f"sigma_low must not exceed sigma_high, got {sigma_low} and {sigma_high}")
    ref = nearest_sigma_index(sigmas, sigma_ref)
    levels = compared_levels(sigmas, ref, sigma_low, sigma_high)
    metrics: dict = {"sigma_ref": float(sigmas[ref]), "sigma_levels": sigmas[levels].tolist(), "stability": {},
                     "centred_stability": {}, "other_image_cosine": {}, "most_stable_block": None}
    arrays: dict[str, np.ndarray] = {"sigmas": sigmas}
    images: dict[str, dict[str, np.ndarray]] = {"raw": {}, "centred": {}}
    for name, a in means.items():
        at_ref = a[:, ref : ref + 1, :]
        raw, centred_cos = cosine(a, at_ref), cosine(centred(a), centred(a)[:, ref : ref + 1, :])
        images["raw"][name], images["centred"][name] = per_image(raw, levels), per_image(centred_cos, levels)
        curve, spread = image_average(raw)
        arrays[f"cosine/{name}"], arrays[f"cosine_std/{name}"] = curve, spread
        arrays[f"centred/{name}"] = image_average(centred_cos)[0]
        arrays[f"other_image/{name}"] = image_average(cosine(np.roll(a, 1, axis=0), at_ref))[0]
        arrays[f"channel_cosine/{name}"] = channel_stability(a, ref, levels)
        arrays[f"channel_correlation/{name}"] = channel_stability(centred(a), ref, levels)
        for key, prefix in (("stability", "cosine"), ("centred_stability", "centred"), ("other_image_cosine", "other_image")):
            metrics[key][name] = level_average(arrays[f"{prefix}/{name}"], levels)
    if "mid" in means:
        metrics["difference_se"], metrics["centred_difference_se"] = difference_se(images["raw"]), difference_se(images["centred"])
    ranked = stability_ranking(metrics["stability"])
    metrics["most_stable_block"] = ranked[0] if ranked else None
    return metrics, arrays


def stability_ranking(scores: Mapping[str, float]) -> list[str]:
    """The block outputs of fig. 2 (E2 … D2: no inputs, not enc1 or dec1) with a defined score, most stable first; the
    one ordering behind most_stable_block and the finding's ranking."""
    return sorted((b for b in feature_blocks(scores) if np.isfinite(scores[b])), key=scores.__getitem__, reverse=True)


def image_average(c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard deviation over images (axis 0) of an N×S array, ignoring NaN; NaN where all are."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # an all-NaN column is documented to give NaN
        return np.nanmean(c, axis=0), np.nanstd(c, axis=0)
