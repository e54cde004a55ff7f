"""Which known generating factors of synthetic images φ encodes, per channel and as a whole (beyond the paper)."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from scipy.stats import entropy
from sklearn.feature_selection import mutual_info_classif

from .. import rng
from ..errors import ConfigError
from .clusters import check_count, check_features, check_labels
from .probes import KNN_K, probe_accuracies, stratified_split


def normalised_mutual_information(phi: np.ndarray, factor: np.ndarray, seed: int) -> np.ndarray:
    """I(φ_c; F) / H(F) for every channel c: 0 when independent, 1 when the channel determines the factor.

    I from scikit-learn's nearest-neighbour estimator (continuous φ, discrete F), H(F) in nats from the
    empirical frequencies. The estimate can dip slightly below 0 or above 1; it is clipped to [0, 1].
    """
    mi = mutual_info_classif(phi, factor, discrete_features=False, random_state=rng.seed_for(seed, "probe"))
    h = entropy(np.unique(factor, return_counts=True)[1])
    return np.clip(mi / h, 0.0, 1.0)


def factors(
    phi: np.ndarray,
    pixels: np.ndarray,
    factors: Mapping[str, np.ndarray],
    test_size: float = 0.25,
    k: int = KNN_K,
    seed: int = 0,
) -> tuple[dict, dict[str, np.ndarray]]:
    """Per factor: the channel that carries it best, and how well φ and pixels predict it on a held-out split.

    Probes as in `probes.probes` (cosine kNN with k neighbours, logistic regression on standardised
    features), on a seeded split stratified by that factor.

    Metrics:
        factors: {name: {"knn_accuracy", "pixel_knn_accuracy", "linear_probe_accuracy",
            "pixel_linear_probe_accuracy", "chance" (most frequent training value on the test part),
            "max_channel_mi" (largest I(φ_c; F)/H(F) over channels), "best_channel" (its index)}}.
    Arrays:
        mi (C, F): I(φ_c; F)/H(F), columns in the order of factor_names; factor_names (F,) strings.
    """
    phi = check_features(phi)
    n = phi.shape[0]
    pixels = check_features(pixels, "pixels", n=n)
    if not isinstance(factors, Mapping) or not factors:
        raise ConfigError("factors must be a non-empty mapping of factor name to one integer value per image")
    checked = {name: check_labels(f, n, f"factors[{name!r}]") for name, f in factors.items()}
    for name, f in checked.items():
        if np.unique(f).size < 2:
            raise ConfigError(f"factors[{name!r}] must take at least two values to be predicted, got one")
    check_count(k, "k")
    per_factor: dict = {}
    columns = []
    for name, f in checked.items():
        train, test = stratified_split(f, test_size, seed, f"factors[{name!r}]")
        check_count(k, "k (neighbours in the kNN probe, at most the training images)", high=train.size)
        mi = normalised_mutual_information(phi, f, seed)
        best = int(np.argmax(mi))
        per_factor[name] = probe_accuracies(phi, pixels, f, train, test, k, seed)
        per_factor[name] |= {"max_channel_mi": float(mi[best]), "best_channel": best}
        columns.append(mi)
    arrays = {"mi": np.stack(columns, axis=1), "factor_names": np.array(list(checked), dtype=str)}
    return {"factors": per_factor}, arrays
