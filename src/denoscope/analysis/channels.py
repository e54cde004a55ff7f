"""Statistics of φ's channels that their selectivity predicts (paper §2.4, fig. 13): tails, spatial sparsity, spatial dimension."""

from __future__ import annotations

import warnings

import numpy as np
from scipy.stats import kurtosis, pearsonr, spearmanr

from ..errors import ConfigError
from .selectivity import LIVE_FLOOR, channel_states, checked_phi
from .sparsity import participation_ratio


def checked_maps(maps: np.ndarray, channels: int) -> np.ndarray:
    """Activation maps as a finite float64 N_m×C×h×w array with N_m ≥ 2 and C = `channels`, or ConfigError."""
    maps = np.asarray(maps, dtype=np.float64)
    if maps.ndim != 4 or maps.shape[0] < 2 or maps.shape[1] != channels or 0 in maps.shape:
        raise ConfigError(
            f"maps must be N_m×C×h×w middle-block activation maps with N_m ≥ 2 and C = {channels}, got shape {maps.shape}"
        )
    if not np.isfinite(maps).all():
        raise ConfigError("maps must hold finite values only")
    return maps


def marginal_kurtosis(phi: np.ndarray, live: np.ndarray) -> np.ndarray:
    """Excess kurtosis of each channel's values over images (C): 0 for a Gaussian, 3 for a Laplace; NaN if dead or constant."""
    varies = live & (np.ptp(phi, axis=0) > 0)
    excess = np.full(phi.shape[1], np.nan)
    excess[varies] = kurtosis(phi[:, varies], axis=0, fisher=True, bias=False)
    return excess


def spatial_sparsity(maps: np.ndarray) -> np.ndarray:
    """Per channel, the mean over images of the PR of its flattened h·w map (C); 1/(h·w) for one pixel, 1 for flat.

    Images on which the channel's map is all zero have no PR and are left out; NaN if all are.
    """
    pr = participation_ratio(maps.reshape(*maps.shape[:2], -1), axis=-1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a channel zero on every image is documented to give NaN
        return np.nanmean(pr, axis=0)


def components_for_variance(maps: np.ndarray, variance: float = 0.9) -> np.ndarray:
    """Per channel, the number of principal components that explain `variance` of its maps' variance across images.

    PCA of the channel's N_m × (h·w) matrix of maps, centred over images, by SVD. NaN for a channel whose
    maps do not vary across images.
    """
    n, c = maps.shape[:2]
    x = maps.reshape(n, c, -1).transpose(1, 0, 2)
    centred = x - x.mean(axis=1, keepdims=True)
    power = np.linalg.svd(centred, compute_uv=False) ** 2
    total = power.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        explained = np.cumsum(power, axis=1) / total[:, None]
    needed = (explained < variance - 1e-12).sum(axis=1) + 1.0
    varies = total > 1e-20 * np.square(x).sum(axis=(1, 2))
    return np.where(varies, needed, np.nan)


def correlation(x: np.ndarray, y: np.ndarray) -> dict:
    """Pearson r and Spearman ρ (with its two-sided p-value) of x and y over the entries where both are defined, and how many.

    NaN coefficients where fewer than 3 entries are defined or either side is constant there.
    """
    ok = np.isfinite(x) & np.isfinite(y)
    result = {"pearson": float("nan"), "spearman": float("nan"), "spearman_p": float("nan"), "channels": int(ok.sum())}
    if ok.sum() >= 3 and np.ptp(x[ok]) > 0 and np.ptp(y[ok]) > 0:
        rho = spearmanr(x[ok], y[ok])
        result["pearson"] = float(pearsonr(x[ok], y[ok]).statistic)
        result["spearman"], result["spearman_p"] = float(rho.statistic), float(rho.pvalue)
    return result


def channel_statistics(
    phi: np.ndarray, maps: np.ndarray, variance: float = 0.9, live_floor: float = LIVE_FLOOR
) -> tuple[dict, dict[str, np.ndarray]]:
    """Fig. 13: per live channel of φ (N×C), tails, spatial sparsity and spatial dimension, against selectivity.

    `maps` are N_m×C×h×w middle-block activation maps (one draw, one σ) of the first N_m images of φ. Selectivity
    is the channel's PR across the N images of φ; dead and near-dead channels (selectivity.channel_states, the same
    floor as fig. 3) are left out of everything, and a live channel whose maps are zero on every mapped image has no
    spatial statistics (counted in channels_without_maps) rather than a NaN in the correlations.

    Metrics:
        kurtosis_vs_selectivity: {"pearson": r, "spearman": ρ, "spearman_p", "channels": n used} of excess kurtosis vs PR.
        spatial_sparsity_vs_selectivity: the same for the mean spatial PR of the maps.
        components_vs_selectivity: the same for the number of components for `variance`.
        kurtosis_median, spatial_sparsity_median, components_median: medians over the defined channels (None if none).
        live_channels, near_dead_channels, dead_channels, channels_without_maps: counts; variance, live_floor: as given.
    Arrays:
        selectivity_pr, kurtosis, spatial_sparsity, components: per channel (C), NaN where undefined.
    """
    phi = checked_phi(phi)
    maps = checked_maps(maps, phi.shape[1])
    if maps.shape[0] > phi.shape[0]:
        raise ConfigError(f"maps must be of the first images of phi, got {maps.shape[0]} maps for {phi.shape[0]} images")
    if not 0 < variance <= 1:
        raise ConfigError(f"variance must be a fraction in (0, 1], got {variance}")
    states = channel_states(phi, live_floor)
    live = states["live"]
    mapped = live & (np.abs(maps).reshape(*maps.shape[:2], -1).max(axis=(0, 2)) > 0)
    arrays = {
        "selectivity_pr": np.where(live, participation_ratio(phi, axis=0), np.nan),
        "kurtosis": marginal_kurtosis(phi, live),
        "spatial_sparsity": np.where(mapped, spatial_sparsity(maps), np.nan),
        "components": np.where(mapped, components_for_variance(maps, variance), np.nan),
    }
    metrics: dict = {"variance": float(variance), "live_floor": float(live_floor), "live_channels": int(live.sum()),
                     "near_dead_channels": int(states["near_dead"].sum()), "dead_channels": int(states["dead"].sum()),
                     "channels_without_maps": int((live & ~mapped).sum())}
    for name in ("kurtosis", "spatial_sparsity", "components"):
        values = arrays[name]
        metrics[f"{name}_vs_selectivity"] = correlation(values, arrays["selectivity_pr"])
        defined = values[np.isfinite(values)]
        metrics[f"{name}_median"] = float(np.median(defined)) if defined.size else None
    return metrics, arrays
