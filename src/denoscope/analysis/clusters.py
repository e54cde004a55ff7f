"""Emergent clusters of φ (paper §2.5, fig. 6): K-means, and how far apart clusters and classes lie."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.cluster import KMeans
from sklearn.manifold import TSNE
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score
from sklearn.metrics.cluster import contingency_matrix

from .. import rng
from ..errors import ConfigError

N_INIT = 10  # K-means restarts, fixed so that a seed fixes the result
FAISS_ABOVE = 2e6  # N·k above which K-means runs on faiss instead of scikit-learn
SEPARATED_STD = 2.0  # paper fig. 6: centroids "more than two standard deviations apart"
RANDOM_PAIRS = 100  # paper fig. 6: "for 100 randomly selected cluster pairs"


def check_features(x: np.ndarray, name: str = "phi", n: int | None = None) -> np.ndarray:
    """`x` as a finite N×C float array with N, C ≥ 1 (and N = n when given), or ConfigError."""
    x = np.asarray(x)
    if not np.issubdtype(x.dtype, np.floating):
        x = x.astype(np.float64)
    if x.ndim != 2 or x.shape[0] == 0 or x.shape[1] == 0:
        raise ConfigError(f"{name} must be a non-empty N×C array (one row per image), got shape {x.shape}")
    if n is not None and x.shape[0] != n:
        raise ConfigError(f"{name} must have one row per image ({n}), got {x.shape[0]}")
    if not np.isfinite(x).all():
        raise ConfigError(f"{name} must hold finite values only")
    return x


def check_labels(y: np.ndarray, n: int, name: str = "labels") -> np.ndarray:
    """`y` as a 1-D integer array of length n, or ConfigError."""
    y = np.asarray(y)
    if y.ndim != 1 or y.shape[0] != n:
        raise ConfigError(f"{name} must be a 1-D array with one entry per image ({n}), got shape {y.shape}")
    if not (np.issubdtype(y.dtype, np.integer) or np.issubdtype(y.dtype, np.bool_)):
        raise ConfigError(f"{name} must hold integers, got dtype {y.dtype}")
    return y.astype(np.int64)


def check_count(k: int, name: str = "k", low: int = 1, high: int | None = None) -> int:
    """`k` as an int in [low, high] (no upper bound when high is None), or ConfigError."""
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < low or (high is not None and k > high):
        expected = f"in [{low}, {high}]" if high is not None else f"≥ {low}"
        raise ConfigError(f"{name} must be an integer {expected}, got {k!r}")
    return int(k)


def kmeans(
    phi: np.ndarray, k: int, seed: int = 0, n_init: int = N_INIT, faiss_above: float = FAISS_ABOVE
) -> tuple[np.ndarray, np.ndarray]:
    """Lloyd's K-means on the rows of φ: (assignment N ints in [0, k), centroids k×C float64), started from the
    "kmeans" stream of `seed` (so analyse and reconstruct --cluster cut the same clusters).

    scikit-learn (as the authors) up to N·k = `faiss_above`, faiss.Kmeans beyond (which trains on
    at most 256 points per centroid, then assigns every row to its nearest centroid).
    """
    phi = check_features(phi)
    k = check_count(k, "k", high=phi.shape[0])
    check_count(n_init, "n_init")
    if phi.shape[0] * k <= faiss_above:
        km = KMeans(n_clusters=k, n_init=n_init, random_state=rng.seed_for(seed, "kmeans")).fit(phi)
        return km.labels_.astype(np.int64), km.cluster_centers_.astype(np.float64)
    import faiss

    x = np.ascontiguousarray(phi, dtype=np.float32)
    km = faiss.Kmeans(x.shape[1], k, niter=50, nredo=n_init, seed=rng.seed_for(seed, "kmeans"), verbose=False)
    km.train(x)
    _, assignment = km.index.search(x, 1)
    return assignment.ravel().astype(np.int64), km.centroids.astype(np.float64)


def random_pairs(g: int, count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """`count` distinct unordered pairs of g groups drawn at random (all of them when there are fewer), as index arrays."""
    a, b = np.triu_indices(g, 1)
    chosen = rng.choose(a.size, count, seed, "pairs")
    return a[chosen], b[chosen]


def separation(
    phi: np.ndarray, assignment: np.ndarray, n_std: float = SEPARATED_STD, seed: int = 0
) -> tuple[dict, dict[str, np.ndarray]]:
    """How far apart groups of φ's (clusters or classes) lie, in standard deviations (fig. 6).

    For groups a, b with centroids μ_a, μ_b and unit direction u = (μ_b − μ_a)/‖μ_b − μ_a‖:
        separation(a, b) = ‖μ_b − μ_a‖ / √((Var_a[φ·u] + Var_b[φ·u]) / 2)
    with population variances of each group's members projected on the joining line. A pair is
    separated when this exceeds `n_std`. The adjacent pair of a group joins it to the group with the
    nearest centroid (each unordered pair counted once). Zero spread gives +inf (0 for equal centroids).

    Metrics:
        n_groups, n_pairs, n_adjacent_pairs, n_random_pairs: ints.
        pairs_separated: fraction of all unordered pairs more than `n_std` apart.
        random_pairs_separated: the same over RANDOM_PAIRS pairs drawn with `seed` (all pairs when fewer), as fig. 6.
        adjacent_pairs_separated: the same over adjacent pairs.
        median_separation: median ratio over all pairs.
    Arrays (G groups, in increasing id order):
        groups (G,) ids; centroids (G, C); distance (G, G) ‖μ_b − μ_a‖; spread (G, G) the square root
        of the mean projected variance; separation (G, G) their ratio (0 on the diagonal);
        adjacent (G,) index (into groups) of each group's nearest other group.
    """
    phi = check_features(phi)
    assignment = check_labels(assignment, phi.shape[0], "assignment")
    groups, members = np.unique(assignment, return_inverse=True)
    g = groups.size
    if g < 2:
        raise ConfigError(f"assignment must name at least two groups to separate, got {g}")
    centroids = np.stack([phi[members == i].mean(axis=0, dtype=np.float64) for i in range(g)])
    gap = centroids[None, :, :] - centroids[:, None, :]  # gap[a, b] = μ_b − μ_a
    distance = np.linalg.norm(gap, axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        u = np.nan_to_num(gap / distance[..., None])
    variance = np.empty((g, g))  # variance[a, b] = Var_a[φ·u_ab]
    for a in range(g):
        centred = phi[members == a] - centroids[a]
        variance[a] = np.mean((centred @ u[a].T) ** 2, axis=0)
    spread = np.sqrt((variance + variance.T) / 2)
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = np.where(distance > 0, distance / spread, 0.0)
    pairs = np.triu_indices(g, 1)
    adjacent = np.argmin(np.where(np.eye(g, dtype=bool), np.inf, distance), axis=1)
    adjacent_pairs = np.unique(np.sort(np.stack([np.arange(g), adjacent], axis=1), axis=1), axis=0)
    drawn = random_pairs(g, RANDOM_PAIRS, seed)
    metrics = {
        "n_groups": int(g),
        "n_pairs": int(pairs[0].size),
        "n_adjacent_pairs": int(len(adjacent_pairs)),
        "n_random_pairs": int(drawn[0].size),
        "pairs_separated": float(np.mean(ratio[pairs] > n_std)),
        "random_pairs_separated": float(np.mean(ratio[drawn] > n_std)),
        "adjacent_pairs_separated": float(np.mean(ratio[adjacent_pairs[:, 0], adjacent_pairs[:, 1]] > n_std)),
        "median_separation": float(np.median(ratio[pairs])),
    }
    arrays = {"groups": groups, "centroids": centroids, "distance": distance, "spread": spread,
              "separation": ratio, "adjacent": adjacent}
    return metrics, arrays


def purity(labels: np.ndarray, assignment: np.ndarray) -> float:
    """Σ over clusters of the count of its most frequent class, divided by N."""
    table = contingency_matrix(labels, assignment)  # classes × clusters
    return float(table.max(axis=0).sum() / len(labels))


def closest_members(phi: np.ndarray, assignment: np.ndarray, centroids: np.ndarray, count: int) -> np.ndarray:
    """k×count image indices per cluster, nearest to its centroid first, padded with −1."""
    out = np.full((len(centroids), count), -1, dtype=np.int64)
    for c, centre in enumerate(centroids):
        idx = np.flatnonzero(assignment == c)
        order = np.argsort(np.linalg.norm(phi[idx] - centre, axis=1), kind="stable")[:count]
        out[c, : order.size] = idx[order]
    return out


def tsne_of_groups(
    phi: np.ndarray, assignment: np.ndarray, n_groups: int, per_group: int, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """2-D t-SNE of up to `per_group` random members of `n_groups` random groups: (M×2, indices, group ids).

    Perplexity min(30, (M − 1)/3) so that small samples work; fewer than 4 points give empty arrays.
    """
    draw = rng.generator(seed, "tsne")
    groups = np.unique(assignment)
    chosen = np.sort(draw.choice(groups, size=min(n_groups, groups.size), replace=False))
    picks = [draw.choice(np.flatnonzero(assignment == c), size=min(per_group, np.sum(assignment == c)), replace=False)
             for c in chosen]
    index = np.sort(np.concatenate(picks)) if picks else np.zeros(0, dtype=np.int64)
    if index.size < 4:
        return np.zeros((0, 2)), np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    perplexity = min(30.0, (index.size - 1) / 3)
    embedding = TSNE(2, perplexity=perplexity, init="pca", random_state=int(draw.integers(1 << 31))).fit_transform(phi[index])
    return embedding.astype(np.float64), index.astype(np.int64), assignment[index]


def tsne_arrays(phi: np.ndarray, assignment: np.ndarray, n_groups: int, per_group: int, seed: int) -> dict:
    tsne, index, group = tsne_of_groups(phi, assignment, n_groups, per_group, seed)
    return {"tsne": tsne, "tsne_index": index, "tsne_group": group}


def clusters_at(
    phi: np.ndarray,
    labels: np.ndarray | None,
    shuffled: np.ndarray | None,
    k: int,
    seed: int,
    samples_per_cluster: int,
    faiss_above: float,
) -> tuple[dict, dict[str, np.ndarray]]:
    """The metrics entry and arrays of `clusters` for one k (null clusters from `shuffled` unless None)."""
    assignment, centroids = kmeans(phi, k, seed, faiss_above=faiss_above)
    sep_metrics, arrays = separation(phi, assignment, seed=seed)
    entry = {
        "n_clusters": sep_metrics["n_groups"],
        "smallest_cluster": int(np.bincount(assignment).min()),
        "cluster_pairs_separated": sep_metrics["pairs_separated"],
        "random_cluster_pairs_separated": sep_metrics["random_pairs_separated"],
        "n_random_pairs": sep_metrics["n_random_pairs"],
        "adjacent_cluster_pairs_separated": sep_metrics["adjacent_pairs_separated"],
        "median_separation": sep_metrics["median_separation"],
    }
    if shuffled is not None:
        null_metrics, null_arrays = separation(shuffled, kmeans(shuffled, k, seed, faiss_above=faiss_above)[0], seed=seed)
        entry["null_cluster_pairs_separated"] = null_metrics["pairs_separated"]
        entry["null_random_cluster_pairs_separated"] = null_metrics["random_pairs_separated"]
        entry["null_adjacent_cluster_pairs_separated"] = null_metrics["adjacent_pairs_separated"]
        entry["null_median_separation"] = null_metrics["median_separation"]
        arrays["null_separation"] = null_arrays["separation"]
    if labels is not None:
        entry["nmi"] = float(normalized_mutual_info_score(labels, assignment))
        entry["ari"] = float(adjusted_rand_score(labels, assignment))
        entry["purity"] = purity(labels, assignment)
    arrays["assignment"] = assignment
    arrays["samples"] = closest_members(phi, assignment, centroids, samples_per_cluster)
    return entry, arrays


def column_permuted(phi: np.ndarray, seed: int) -> np.ndarray:
    """φ with every channel shuffled over images independently: same sparse marginals, no joint structure.

    The null for the separation of K-means clusters: Lloyd's cells cut the data at their boundaries, so
    their members' spread along the joining line is small even in structureless data (two halves of one
    Gaussian are already 2.66 std apart), and the 2-std criterion alone does not show structure.
    """
    draw = rng.generator(seed, "null")
    return np.stack([draw.permutation(column) for column in phi.T], axis=1)


def clusters(
    phi: np.ndarray,
    labels: np.ndarray | None = None,
    ks: Sequence[int] = (10, 100),
    seed: int = 0,
    tsne_clusters: int = 4,
    tsne_points: int = 100,
    samples_per_cluster: int = 8,
    faiss_above: float = FAISS_ABOVE,
    null: bool = True,
) -> tuple[dict, dict[str, np.ndarray]]:
    """K-means on φ for every k in `ks`, cluster and class separation, agreement with classes (fig. 6, 15, 16).

    Metrics:
        n_images: N.
        k: {str(k): {"cluster_pairs_separated", "random_cluster_pairs_separated",
            "adjacent_cluster_pairs_separated": fractions of all, of RANDOM_PAIRS random ("n_random_pairs") and
            of adjacent cluster pairs more than 2 std apart (see `separation`), "median_separation": the
            median ratio over pairs, "n_clusters": non-empty clusters, "smallest_cluster": its member count;
            with `null`, "null_cluster_pairs_separated", "null_random_cluster_pairs_separated",
            "null_adjacent_cluster_pairs_separated" and "null_median_separation": the same for K-means on
            `column_permuted` φ (structureless, same marginals); with labels "nmi", "ari" (scikit-learn)
            and "purity"}}.
        With labels: n_classes, smallest_class, class_pairs_separated, random_class_pairs_separated,
        adjacent_class_pairs_separated, class_median_separation.
    Arrays, for each k under "k<k>/" and, with labels, for the classes under "class/":
        assignment (N,) [k only]; samples (k, samples_per_cluster) member indices nearest the centroid
        first, −1 padded [k only]; groups, centroids, distance, spread, separation, adjacent (see
        `separation`; rows follow `groups`, the non-empty clusters); tsne (M, 2), tsne_index (M,) image
        indices and tsne_group (M,) cluster/class of `tsne_points` random members of each of
        `tsne_clusters` random groups (empty when tsne_clusters = 0); with `null`, null_separation (k, k)
        [k only] the separation matrix of the null clusters.
    """
    phi = check_features(phi)
    n = phi.shape[0]
    if labels is not None:
        labels = check_labels(labels, n)
        if np.unique(labels).size < 2:
            raise ConfigError("labels must name at least two classes to compare them, got one")
    if isinstance(ks, (int, np.integer)) or len(ks) == 0:
        raise ConfigError(f"ks must be a non-empty sequence of cluster counts, got {ks!r}")
    ks = [check_count(k, "each k in ks", low=2, high=n) for k in ks]
    check_count(tsne_clusters, "tsne_clusters", low=0)
    check_count(tsne_points, "tsne_points")
    check_count(samples_per_cluster, "samples_per_cluster")

    metrics: dict = {"n_images": n, "k": {}}
    arrays: dict[str, np.ndarray] = {}
    shuffled = column_permuted(phi, seed) if null else None
    for k in ks:
        metrics["k"][str(k)], k_arrays = clusters_at(phi, labels, shuffled, k, seed, samples_per_cluster, faiss_above)
        k_arrays |= tsne_arrays(phi, k_arrays["assignment"], tsne_clusters, tsne_points, seed)
        arrays |= {f"k{k}/{name}": a for name, a in k_arrays.items()}
    if labels is not None:
        sep_metrics, sep_arrays = separation(phi, labels, seed=seed)
        metrics |= {"n_classes": sep_metrics["n_groups"],
                    "smallest_class": int(np.unique(labels, return_counts=True)[1].min()),
                    "class_pairs_separated": sep_metrics["pairs_separated"],
                    "random_class_pairs_separated": sep_metrics["random_pairs_separated"],
                    "adjacent_class_pairs_separated": sep_metrics["adjacent_pairs_separated"],
                    "class_median_separation": sep_metrics["median_separation"]}
        sep_arrays |= tsne_arrays(phi, labels, tsne_clusters, tsne_points, seed)
        arrays |= {f"class/{name}": a for name, a in sep_arrays.items()}
    return metrics, arrays
