"""Images nearest a target by cosine similarity of φ versus of pixels (paper §2.5, fig. 5 left, fig. 14)."""

from __future__ import annotations

import numpy as np

from ..errors import ConfigError
from .clusters import check_count, check_features, check_labels
from .probes import difference_interval


def unit_rows(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit ℓ2 norm as contiguous float32 (all-zero rows stay zero: similarity 0)."""
    x = np.asarray(x, dtype=np.float64)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return np.ascontiguousarray(np.divide(x, norms, out=np.zeros_like(x), where=norms > 0), dtype=np.float32)


NEARLY_CONSTANT = 0.999  # mean pairwise cosine of φ at or above this: φ barely tells one image from another


def mean_pairwise_cosine(x: np.ndarray) -> float:
    """Mean of cos(x_i, x_j) over distinct pairs of rows, from the sum of unit rows: (‖Σu‖² − Σ‖u‖²) / (n(n − 1))."""
    unit = unit_rows(x).astype(np.float64)
    n = unit.shape[0]
    if n < 2:
        return float("nan")
    total = unit.sum(axis=0)
    return float((total @ total - np.square(unit).sum()) / (n * (n - 1)))


def constancy(phi: np.ndarray) -> dict:
    """How alike φ is across images, and a warning when it is nearly constant (every comparison of images then rides
    on a tiny part of φ)."""
    c = mean_pairwise_cosine(phi)
    warning = (f"φ is nearly constant across images: mean pairwise cosine {c:.4f} ≥ {NEARLY_CONSTANT}; comparisons of "
               "images (neighbours, clusters, probes) ride on a small part of φ") if c >= NEARLY_CONSTANT else None
    return {"mean_pairwise_cosine": c, "threshold": NEARLY_CONSTANT, "nearly_constant": warning is not None, "warning": warning}


def cosine_neighbours(x: np.ndarray, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """For each query row, the k other rows of highest cos(x_q, x_i), best first: (indices Q×k, cosines Q×k).

    Exact search (inner products of unit rows); the query itself is left out, one extra hit is asked for.
    """
    unit = unit_rows(x)
    cosines, ids = inner_product_search(unit, unit[queries], k + 1)
    keep = np.argsort(ids == queries[:, None], axis=1, kind="stable")[:, :k]  # others first, order kept
    return np.take_along_axis(ids, keep, 1).astype(np.int64), np.take_along_axis(cosines, keep, 1).astype(np.float64)


def inner_product_search(unit: np.ndarray, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(cosines, ids) of each query's k largest inner products with the unit rows, exactly: faiss where installed,
    else scikit-learn's brute-force cosine search (all-zero rows have cosine 0 in both)."""
    try:
        import faiss
    except ImportError:
        from sklearn.neighbors import NearestNeighbors

        distances, ids = NearestNeighbors(n_neighbors=k, algorithm="brute", metric="cosine").fit(unit).kneighbors(queries)
        return 1 - distances, ids
    index = faiss.IndexFlatIP(unit.shape[1])
    index.add(unit)
    return index.search(queries, k)


def label_agreement(labels: np.ndarray, queries: np.ndarray, found: np.ndarray) -> float:
    """Fraction of (query, neighbour) pairs whose labels agree."""
    return float(np.mean(labels[found] == labels[queries][:, None]))


def neighbours(
    phi: np.ndarray, pixels: np.ndarray, queries: np.ndarray, k: int = 15, labels: np.ndarray | None = None
) -> tuple[dict, dict[str, np.ndarray]]:
    """The k nearest other images of each query by cosine similarity, in φ and in pixel space.

    Both spaces use cosine similarity of the raw vectors (pixels as given, not centred), as fig. 14.

    Metrics:
        n_queries, k: ints.
        mean_cosine, pixel_mean_cosine: mean similarity of the neighbours found in each space.
        With labels: neighbour_label_agreement, pixel_neighbour_label_agreement: fraction of neighbours
        sharing the query's label.
    Arrays:
        queries (Q,); neighbours, pixel_neighbours (Q, k) image indices, most similar first;
        cosine, pixel_cosine (Q, k) their similarities to the query.
    """
    phi = check_features(phi)
    n = phi.shape[0]
    pixels = check_features(pixels, "pixels", n=n)
    queries = np.asarray(queries)
    if queries.ndim != 1 or queries.size == 0 or not np.issubdtype(queries.dtype, np.integer):
        raise ConfigError(
            f"queries must be a non-empty 1-D array of image indices, got shape {queries.shape}, dtype {queries.dtype}"
        )
    if queries.min() < 0 or queries.max() >= n:
        raise ConfigError(f"queries must be image indices in [0, {n}), got {queries.min()} to {queries.max()}")
    queries = queries.astype(np.int64)
    k = check_count(k, "k", high=n - 1)
    found, cosine = cosine_neighbours(phi, queries, k)
    pixel_found, pixel_cosine = cosine_neighbours(pixels, queries, k)
    metrics = {"n_queries": int(queries.size), "k": k,
               "mean_cosine": float(cosine.mean()), "pixel_mean_cosine": float(pixel_cosine.mean())}
    if labels is not None:
        labels = check_labels(labels, n)
        metrics["neighbour_label_agreement"] = label_agreement(labels, queries, found)
        metrics["pixel_neighbour_label_agreement"] = label_agreement(labels, queries, pixel_found)
    arrays = {"queries": queries, "neighbours": found, "cosine": cosine,
              "pixel_neighbours": pixel_found, "pixel_cosine": pixel_cosine}
    return metrics, arrays


def neighbour_table(phi: np.ndarray, pixels: np.ndarray, k: int = 8) -> dict[str, np.ndarray]:
    """Every image's k nearest others in φ and in pixels (cosine, exact), for browsing: N×k ids and cosines each."""
    phi = check_features(phi)
    n = phi.shape[0]
    pixels = check_features(pixels, "pixels", n=n)
    k = check_count(k, "k", high=n - 1)
    every = np.arange(n, dtype=np.int64)
    found, cosine = cosine_neighbours(phi, every, k)
    pixel_found, pixel_cosine = cosine_neighbours(pixels, every, k)
    return {"neighbours": found.astype(np.int32), "cosine": cosine.astype(np.float32),
            "pixel_neighbours": pixel_found.astype(np.int32), "pixel_cosine": pixel_cosine.astype(np.float32)}


def table_label_agreement(table: dict[str, np.ndarray], labels: np.ndarray, seed: int = 0) -> dict:
    """Over every image of a `neighbour_table`, the fraction of its neighbours sharing its label, in φ and in pixels.

    Metrics: images, k, label_agreement, pixel_label_agreement, chance (the fraction of other images sharing an
    image's label, averaged over images), lead_interval (95 % bootstrap interval over images of φ's minus pixels') and
    over_chance_interval (the same of φ's minus each image's chance).
    """
    n, k = table["neighbours"].shape
    labels = check_labels(labels, n)
    own = labels[:, None]
    phi_share = (labels[table["neighbours"]] == own).mean(axis=1)
    pixel_share = (labels[table["pixel_neighbours"]] == own).mean(axis=1)
    _, inverse, counts = np.unique(labels, return_inverse=True, return_counts=True)
    chance = (counts[inverse] - 1) / (n - 1)
    return {"images": int(n), "k": int(k), "label_agreement": float(phi_share.mean()),
            "pixel_label_agreement": float(pixel_share.mean()), "chance": float(chance.mean()),
            "lead_interval": difference_interval(phi_share, pixel_share, seed),
            "over_chance_interval": difference_interval(phi_share, chance, seed)}
