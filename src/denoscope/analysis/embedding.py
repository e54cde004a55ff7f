"""A 2-D map of φ for the explorer: where each image lies among the others. PCA by default (any N, deterministic);
t-SNE for at most TSNE_MAX images, where its cost is still minutes at most."""

from __future__ import annotations

import numpy as np
from sklearn.decomposition import PCA
from sklearn.manifold import TSNE

from .. import rng
from ..errors import ConfigError
from .clusters import check_features

METHODS = ("pca", "tsne")
TSNE_MAX = 5000


def pca_map(phi: np.ndarray) -> dict:
    """φ's rows projected on its two leading principal components, and the share of φ's variance each explains."""
    phi = check_features(phi)
    if min(phi.shape) < 2:
        raise ConfigError(f"a PCA map needs at least 2 images and 2 channels, got φ shaped {phi.shape}")
    pca = PCA(2, svd_solver="covariance_eigh").fit(phi)
    return {"method": "pca", "coords": pca.transform(phi).astype(np.float32),
            "explained_variance_ratio": pca.explained_variance_ratio_.astype(float).tolist()}


def tsne_map(phi: np.ndarray, seed: int = 0) -> dict:
    """The t-SNE of φ's rows (perplexity min(30, (N − 1)/3), PCA start), for at most TSNE_MAX images."""
    phi = check_features(phi)
    n = phi.shape[0]
    if not 4 <= n <= TSNE_MAX:
        raise ConfigError(f"a t-SNE map needs 4 to {TSNE_MAX} images, got {n}; use the PCA map")
    tsne = TSNE(2, perplexity=min(30.0, (n - 1) / 3), init="pca", random_state=rng.seed_for(seed, "tsne"))
    return {"method": "tsne", "coords": tsne.fit_transform(phi).astype(np.float32)}


def check_method(method: str) -> str:
    """`method` when it is one of METHODS, checked before anything is computed or written."""
    if method not in METHODS:
        raise ConfigError(f"the map of φ is made by one of {', '.join(METHODS)}, not {method!r}")
    return method


def phi_map(phi: np.ndarray, method: str = "pca", seed: int = 0) -> dict:
    """The 2-D map of φ by `method` (one of METHODS): {"method", "coords" N×2 float32, …}."""
    return pca_map(phi) if check_method(method) == "pca" else tsne_map(phi, seed)
