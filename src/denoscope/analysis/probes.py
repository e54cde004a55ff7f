"""How much class information φ carries compared with pixels: kNN and linear probes on a held-out split."""

from __future__ import annotations

import numpy as np
from scipy.stats import bootstrap
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from .. import rng
from ..errors import ConfigError
from .clusters import check_count, check_features, check_labels

KNN_K = 20  # neighbours voting in the kNN probe
MAX_ITER = 2000  # L-BFGS iterations of the linear probe


def stratified_split(
    labels: np.ndarray, test_size: float, seed: int, name: str = "labels"
) -> tuple[np.ndarray, np.ndarray]:
    """Train/test image indices (the "probe" stream of `seed`) with every class in the same proportion in both parts."""
    if not 0 < test_size < 1:
        raise ConfigError(f"test_size must be a fraction in (0, 1), got {test_size!r}")
    classes, counts = np.unique(labels, return_counts=True)
    if classes.size < 2 or counts.min() < 2:
        raise ConfigError(
            f"{name} must have at least two classes of at least two images each, got counts {counts.tolist()}"
        )
    try:
        return train_test_split(np.arange(len(labels)), test_size=test_size, stratify=labels, random_state=rng.seed_for(seed, "probe"))
    except ValueError as e:
        raise ConfigError(f"test_size={test_size} leaves no room for every class of {name} in both parts: {e}") from e


def knn_correct(x: np.ndarray, y: np.ndarray, train: np.ndarray, test: np.ndarray, k: int = KNN_K) -> np.ndarray:
    """Per test image, whether a majority vote among the k training images of highest cosine similarity is right."""
    knn = KNeighborsClassifier(n_neighbors=k, metric="cosine", algorithm="brute")
    return knn.fit(x[train], y[train]).predict(x[test]) == y[test]


def linear_probe_correct(
    x: np.ndarray, y: np.ndarray, train: np.ndarray, test: np.ndarray, seed: int = 0
) -> np.ndarray:
    """Per test image, whether multinomial logistic regression on standardised features (L2, C = 1) is right."""
    probe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=MAX_ITER, random_state=rng.seed_for(seed, "probe")))
    return probe.fit(x[train], y[train]).predict(x[test]) == y[test]


def difference_interval(a: np.ndarray, b: np.ndarray, seed: int, confidence: float = 0.95) -> list[float]:
    """Percentile bootstrap interval of mean(a) − mean(b) over paired items (the same images scored two ways)."""
    diff = np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)
    if np.ptp(diff) == 0:
        return [float(diff[0]), float(diff[0])]
    ci = bootstrap((diff,), np.mean, confidence_level=confidence, n_resamples=2000, method="percentile",
                   random_state=rng.generator(seed, "probe")).confidence_interval
    return [float(ci.low), float(ci.high)]


def chance_accuracy(y: np.ndarray, train: np.ndarray, test: np.ndarray) -> float:
    """Test accuracy of always answering the most frequent training class (1/classes when balanced)."""
    classes, counts = np.unique(y[train], return_counts=True)
    return float(np.mean(y[test] == classes[np.argmax(counts)]))


def probe_accuracies(
    phi: np.ndarray, pixels: np.ndarray, y: np.ndarray, train: np.ndarray, test: np.ndarray, k: int, seed: int
) -> dict:
    """kNN and linear probe accuracy from φ and from pixels, the chance rate, and 95 % intervals of φ's lead, on one split."""
    knn, pixel_knn = knn_correct(phi, y, train, test, k), knn_correct(pixels, y, train, test, k)
    linear, pixel_linear = linear_probe_correct(phi, y, train, test, seed), linear_probe_correct(pixels, y, train, test, seed)
    chance = np.full(test.size, chance_accuracy(y, train, test))
    return {
        "knn_accuracy": float(knn.mean()),
        "pixel_knn_accuracy": float(pixel_knn.mean()),
        "linear_probe_accuracy": float(linear.mean()),
        "pixel_linear_probe_accuracy": float(pixel_linear.mean()),
        "chance": chance_accuracy(y, train, test),
        "knn_lead_interval": difference_interval(knn, pixel_knn, seed),
        "linear_probe_lead_interval": difference_interval(linear, pixel_linear, seed),
        "knn_over_chance_interval": difference_interval(knn, chance, seed),
        "linear_probe_over_chance_interval": difference_interval(linear, chance, seed),
    }


def probes(
    phi: np.ndarray,
    pixels: np.ndarray,
    labels: np.ndarray,
    test_size: float = 0.25,
    k: int = KNN_K,
    seed: int = 0,
) -> tuple[dict, dict[str, np.ndarray]]:
    """Class read-out from φ versus pixels on a seeded stratified split (splits, probes and intervals from the "probe" stream).

    kNN: cosine similarity, majority vote of the `k` nearest training images (k ≤ training images).
    Linear: logistic regression on features standardised with training statistics.

    Metrics:
        knn_accuracy, pixel_knn_accuracy, linear_probe_accuracy, pixel_linear_probe_accuracy: test
        accuracies in [0, 1]; chance: accuracy of the most frequent training class on the test part;
        knn_lead_interval, linear_probe_lead_interval: 95 % bootstrap intervals (over test images) of φ's
        accuracy minus pixels'; knn_over_chance_interval, linear_probe_over_chance_interval: the same of φ's accuracy
        minus chance;
        n_train, n_test, n_classes, k: ints.
    Arrays:
        train, test: image indices of the two parts.
    """
    phi = check_features(phi)
    pixels = check_features(pixels, "pixels", n=phi.shape[0])
    labels = check_labels(labels, phi.shape[0])
    train, test = stratified_split(labels, test_size, seed)
    k = check_count(k, "k (neighbours in the kNN probe, at most the training images)", high=train.size)
    metrics = probe_accuracies(phi, pixels, labels, train, test, k, seed)
    metrics |= {"n_train": int(train.size), "n_test": int(test.size),
                "n_classes": int(np.unique(labels).size), "k": k}
    return metrics, {"train": train, "test": test}
