"""Channel selectivity of φ (paper §2.4, figs. 3, 4, 12): the PR of each channel across images, and what its rare images are."""

from __future__ import annotations

import numpy as np
from scipy.stats import kurtosis, skew
from sklearn.mixture import GaussianMixture

from .. import rng
from ..errors import ConfigError
from .sparsity import participation_ratio

SARLE_THRESHOLD = 5 / 9  # a uniform distribution's coefficient; above it suggests bimodality
DENSITY_GRID = np.linspace(0.0, 1.0, 2001)  # PRs at which the fitted mixture's density is evaluated (and drawn)
LIVE_FLOOR = 0.05  # a channel is live when its largest φ reaches this fraction of the typical channel's largest φ


def checked_phi(phi: np.ndarray) -> np.ndarray:
    """φ as a finite float64 N×C array with N, C ≥ 1, or ConfigError."""
    phi = np.asarray(phi, dtype=np.float64)
    if phi.ndim != 2 or 0 in phi.shape:
        raise ConfigError(f"phi must be an N×C array of middle-block means with N, C ≥ 1, got shape {phi.shape}")
    if not np.isfinite(phi).all():
        raise ConfigError("phi must hold finite values only")
    return phi


def channel_peaks(phi: np.ndarray) -> np.ndarray:
    """Each channel's largest |φ| over images (C): how strongly anything activates it."""
    return np.abs(phi).max(axis=0)


def live_threshold(phi: np.ndarray, floor: float = LIVE_FLOOR) -> float:
    """floor × the median over active channels of each channel's largest φ: the activation that counts as a response."""
    if not 0 <= floor < 1:
        raise ConfigError(f"live_floor must be a fraction in [0, 1), got {floor}")
    peaks = channel_peaks(phi)
    active = peaks[peaks > 0]
    return float(floor * np.median(active)) if active.size else 0.0


def channel_states(phi: np.ndarray, floor: float = LIVE_FLOOR) -> dict[str, np.ndarray]:
    """Boolean masks (C) of dead channels (zero on every image), near-dead ones (active, but their largest φ below
    live_threshold) and live ones (the rest), with the threshold: only live channels can be selective."""
    peaks, threshold = channel_peaks(phi), live_threshold(phi, floor)
    dead = peaks == 0
    live = ~dead & (peaks >= threshold)
    return {"dead": dead, "near_dead": ~dead & ~live, "live": live, "threshold": threshold}


def bimodality_coefficient(x: np.ndarray) -> float:
    """Sarle's b = (g² + 1) / (κ + 3(n−1)²/((n−2)(n−3))), g the sample skewness, κ the sample excess kurtosis.

    b = 5/9 for a uniform distribution, 1/3 for a Gaussian, → 1 for two separated equal spikes.
    """
    n = x.size
    if n < 4:
        raise ConfigError(f"the bimodality coefficient needs at least 4 values, got {n}")
    g = skew(x, bias=False)
    excess = kurtosis(x, fisher=True, bias=False)
    return float((g**2 + 1) / (excess + 3 * (n - 1) ** 2 / ((n - 2) * (n - 3))))


def mixture_split(x: np.ndarray, seed: int = 0) -> dict:
    """Two-component 1-D Gaussian mixture of x, components ordered by mean, the split between them, and whether two beat one.

    The split is the first point, going from the lower mean to the higher, where the higher component's
    posterior reaches 1/2 (the higher mean itself if it never does). Two modes are told apart from one by the
    BIC of one and two components and by Ashman's D = √2·|μ₂ − μ₁| / √(s₁² + s₂²) (D > 2: the modes separate).
    `density` is the fitted mixture's density on DENSITY_GRID, `modes` its number of local maxima there and `dip` the
    depth of the valley between them (dip_ratio): two components can fit one skewed hump, with one maximum or a
    shoulder that barely dips, and only a valley shows two modes.
    """
    gmm = GaussianMixture(n_components=2, random_state=rng.seed_for(seed, "mixture")).fit(x[:, None])
    one = GaussianMixture(n_components=1, random_state=rng.seed_for(seed, "mixture")).fit(x[:, None])
    order = np.argsort(gmm.means_.ravel())
    means = gmm.means_.ravel()[order]
    stds = np.sqrt(gmm.covariances_.ravel()[order])
    grid = np.linspace(means[0], means[1], 1001)
    upper = gmm.predict_proba(grid[:, None])[:, order[1]] >= 0.5
    return {
        "means": means.tolist(),
        "weights": gmm.weights_[order].tolist(),
        "stds": stds.tolist(),
        "split": float(grid[np.argmax(upper)] if upper.any() else means[1]),
        "bic_one": float(one.bic(x[:, None])),
        "bic_two": float(gmm.bic(x[:, None])),
        "ashman_d": float(np.sqrt(2) * (means[1] - means[0]) / np.sqrt(np.square(stds).sum())),
        "density": (density := np.exp(gmm.score_samples(DENSITY_GRID[:, None]))),
        "modes": int(maxima(density).size),
        "dip": dip_ratio(density),
    }


def maxima(y: np.ndarray) -> np.ndarray:
    """Indices of the strict local maxima of a sampled curve, the ends included (a plateau's first point)."""
    keep = np.flatnonzero(np.concatenate([[True], np.diff(y) != 0]))
    padded = np.concatenate([[-np.inf], y[keep], [-np.inf]])
    return keep[(padded[1:-1] > padded[:-2]) & (padded[1:-1] > padded[2:])]


def dip_ratio(y: np.ndarray) -> float:
    """The curve's lowest value between its outermost maxima over the lower of those two maxima: 1 for one peak (or
    a shoulder), near 0 for two peaks with a deep valley between them."""
    peaks = maxima(y)
    if peaks.size < 2:
        return 1.0
    a, b = peaks[0], peaks[-1]
    return float(y[a : b + 1].min() / min(y[a], y[b]))


def top_images(phi: np.ndarray, channel: int, k: int, threshold: float = -np.inf) -> list[int]:
    """Indices of the (at most) k images that activate `channel` most and at least `threshold`, strongest first."""
    order = np.argsort(-phi[:, channel], kind="stable")[:k]
    return order[phi[order, channel] >= threshold].tolist()


def channel_top_images(phi: np.ndarray, k: int, threshold: float = -np.inf) -> tuple[np.ndarray, np.ndarray]:
    """For every channel, its k most activating images, strongest first, and their φ: (C×k ids, C×k values); images
    below `threshold` (that do not really activate the channel) are left out, their places −1 and NaN at the end."""
    k = min(k, phi.shape[0])
    part = np.argpartition(-phi, k - 1, axis=0)[:k] if k < phi.shape[0] else np.tile(np.arange(phi.shape[0])[:, None], (1, phi.shape[1]))
    values = np.take_along_axis(phi, part, 0)
    order = np.argsort(-values, axis=0, kind="stable")
    ids, values = np.take_along_axis(part, order, 0).T, np.take_along_axis(values, order, 0).T
    below = values < threshold
    return np.where(below, -1, ids), np.where(below, np.nan, values)


def example_channels(phi: np.ndarray, image: int, selective: np.ndarray, n: int) -> tuple[list[int], np.ndarray]:
    """The n selective channels the image activates most relative to each channel's mean over images.

    Returns the channel ids, strongest first, and the relative activation φ[image, i] / mean_x φ[x, i]
    of every channel (NaN for channels with zero mean).
    """
    with np.errstate(invalid="ignore", divide="ignore"):
        relative = phi[image] / phi.mean(axis=0)
    candidates = np.flatnonzero(selective & (phi[image] > 0))
    ranked = candidates[np.argsort(-relative[candidates], kind="stable")]
    return ranked[:n].tolist(), relative


def selectivity(
    phi: np.ndarray,
    n_top: int = 4,
    k: int = 9,
    example_image: int = 0,
    n_example: int = 3,
    bins: int = 50,
    live_floor: float = LIVE_FLOOR,
    seed: int = 0,
    top_k: int = 16,
) -> tuple[dict, dict[str, np.ndarray]]:
    """Selectivity of every live channel of φ (N images × C channels, one σ): PR(c(i)) = ‖c(i)‖₁² / (n‖c(i)‖₂²).

    A channel is live when its largest φ reaches `live_floor` × the median over active channels of each channel's
    largest φ (channel_states); dead channels (zero on every image) and near-dead ones (active, but below that) have
    no PR, are counted and listed apart, and never ranked. A channel's top images are those at or above that same
    threshold only: an image that barely activates it is not one of its images.

    Metrics:
        selectivity_bimodality: Sarle's coefficient of the live channels' PRs (float).
        bimodal: whether it exceeds 5/9 (bool).
        channel_pr_median: median PR of the live channels.
        live_floor, live_threshold: the floor and the φ it comes to; live_channels, near_dead_channels, dead_channels:
        counts; near_dead_channel_ids, dead_channel_ids: lists.
        gmm_means, gmm_weights, gmm_stds: the two mixture components of the live PRs, lower mean first.
        gmm_split: the PR between the two components (float).
        gmm_bic_one, gmm_bic_two: BIC of one and two mixture components (lower is better); gmm_ashman_d: Ashman's D;
        gmm_modes: local maxima of the fitted mixture's density over PR ∈ [0, 1]; gmm_dip: its lowest value between the
        outermost maxima over the lower maximum (1: one peak; small: a deep valley between two modes).
        selective_fraction: fraction of live channels whose PR is below gmm_split.
        top_channels: the n_top live channels of lowest PR, most selective first (list of ints).
        top_channel_pr: their PRs.
        top_images, top_values: {str(channel): its (at most) k images at or above the threshold, strongest first, and
        their φ}, for top_channels and example_channels.
        example_image: the image index used (int).
        example_channels: the n_example selective channels it activates most relative to their means.
    Arrays:
        channel_pr: PR per channel (C, NaN unless live); channel_peak: each channel's largest φ (C);
        channel_state: 0 dead, 1 near-dead, 2 live (C).
        bin_edges, counts: histogram of the live PRs over (0, 1]; mixture_pr, mixture_density: the fitted mixture's density.
        relative_activation: φ[example_image, i] / mean over images of φ[:, i] (C).
        channel_top, channel_top_values: every channel's `top_k` most activating images at or above the threshold and
        their φ (C × top_k, −1 and NaN where fewer images reach it).
        channel_mean: mean φ of every channel over images (C).
    """
    phi = checked_phi(phi)
    check_counts(phi, n_top=n_top, k=k, example_image=example_image, n_example=n_example, bins=bins, top_k=top_k)
    states = channel_states(phi, live_floor)
    live, threshold = states["live"], states["threshold"]
    if live.sum() < 4:
        raise ConfigError(f"phi must have at least 4 live channels (largest φ at least {live_floor} of the typical channel's), "
                          f"got {int(live.sum())}")
    pr = np.where(live, participation_ratio(phi, axis=0), np.nan)
    mixture = mixture_split(pr[live], seed)
    selective = live & (pr < mixture["split"])
    b = bimodality_coefficient(pr[live])
    top = np.argsort(np.where(live, pr, np.inf), kind="stable")[: min(n_top, int(live.sum()))].tolist()
    example, relative = example_channels(phi, example_image, selective, n_example)
    edges = np.linspace(0.0, 1.0, bins + 1)
    shown = {str(c): top_images(phi, c, k, threshold) for c in top + example}
    metrics = {
        "selectivity_bimodality": b,
        "bimodal": bool(b > SARLE_THRESHOLD),
        "channel_pr_median": float(np.median(pr[live])),
        "live_floor": float(live_floor),
        "live_threshold": threshold,
        "live_channels": int(live.sum()),
        "near_dead_channels": int(states["near_dead"].sum()),
        "dead_channels": int(states["dead"].sum()),
        "near_dead_channel_ids": np.flatnonzero(states["near_dead"]).tolist(),
        "dead_channel_ids": np.flatnonzero(states["dead"]).tolist(),
        "gmm_means": mixture["means"],
        "gmm_weights": mixture["weights"],
        "gmm_stds": mixture["stds"],
        "gmm_split": mixture["split"],
        "gmm_bic_one": mixture["bic_one"],
        "gmm_bic_two": mixture["bic_two"],
        "gmm_ashman_d": mixture["ashman_d"],
        "gmm_modes": mixture["modes"],
        "gmm_dip": mixture["dip"],
        "selective_fraction": float(selective.sum() / live.sum()),
        "top_channels": top,
        "top_channel_pr": [float(pr[c]) for c in top],
        "top_images": shown,
        "top_values": {c: [float(phi[i, int(c)]) for i in ids] for c, ids in shown.items()},
        "example_image": int(example_image),
        "example_channels": example,
    }
    arrays = {
        "channel_pr": pr,
        "channel_peak": channel_peaks(phi),
        "channel_state": np.select([states["dead"], states["near_dead"]], [0, 1], 2).astype(np.int8),
        "bin_edges": edges,
        "counts": np.histogram(pr[live], bins=edges)[0],
        "mixture_pr": DENSITY_GRID,
        "mixture_density": mixture["density"],
        "relative_activation": relative,
        "channel_mean": phi.mean(axis=0),
    }
    arrays["channel_top"], arrays["channel_top_values"] = channel_top_images(phi, top_k, threshold)
    return metrics, arrays


def check_counts(phi: np.ndarray, **counts: int) -> None:
    """ConfigError unless every count is a positive integer and example_image indexes an image of phi."""
    for name, value in counts.items():
        low = 0 if name == "example_image" else 1
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < low:
            raise ConfigError(f"{name} must be an integer ≥ {low}, got {value!r}")
    if counts["example_image"] >= phi.shape[0]:
        raise ConfigError(f"example_image must index one of the {phi.shape[0]} images of phi, got {counts['example_image']}")
