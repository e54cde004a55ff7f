"""Figures of a saved `jacobian` folder (the 2023 paper's adaptive basis): drawing only, from jacobian.npz."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from .figures import in_format, save_figure, saved, show

SPECTRA = "jacobian-spectra.png"
EIGENVECTORS = "jacobian-eigenvectors.png"
DRAWN = 16  # eigenvectors per row of the figure: hundreds would take minutes to draw and be unreadable


def as_picture(vector: np.ndarray) -> np.ndarray:
    """A C×H×W eigenvector as an H×W×C image: 0 at mid-gray, its largest |value| at black or white."""
    return 0.5 + vector.transpose(1, 2, 0) / (2 * np.abs(vector).max() + 1e-30)


def spectra_figure(a: dict, path: Path) -> None:
    """Eigenvalues of the symmetric part of J (sorted) per σ, and tr J (the effective dimensionality) against σ."""
    fig = Figure(figsize=(9, 3.4), layout="constrained")
    left, right = fig.subplots(1, 2)
    for sigma, values in zip(a["sigmas"], a["eigenvalues"]):
        left.plot(np.arange(1, len(values) + 1), values, label=f"σ = {sigma:g}")
    left.set(xscale="log", xlabel="rank", ylabel="eigenvalue of (J + Jᵀ)/2", title="shrinkage factors")
    left.axhline(0, color="0.7", lw=0.5)
    left.legend(fontsize=8)
    right.plot(a["sigmas"], a["trace"], "o-")
    right.set(xscale="log", xlabel="σ", ylabel="tr J", title="effective dimensionality")
    right.set_xticks(a["sigmas"], [f"{s:g}" for s in a["sigmas"]], minor=False)
    right.minorticks_off()
    save_figure(fig, path)


def eigenvector_figure(a: dict, path: Path) -> None:
    """One row per σ: the noisy image, D(y), then the top eigenvectors (at most DRAWN; all are in jacobian.npz) with their eigenvalues."""
    vectors = a["eigenvectors"]
    rows, top = vectors.shape[0], min(vectors.shape[1], DRAWN)
    fig = Figure(figsize=(1.1 * (top + 2), 1.2 * rows + 0.3), layout="constrained")
    axes = fig.subplots(rows, top + 2, squeeze=False)
    for r, sigma in enumerate(a["sigmas"]):
        show(axes[r, 0], a["noisy"][r].transpose(1, 2, 0), f"σ={sigma:g} y")
        show(axes[r, 1], a["denoised"][r].transpose(1, 2, 0), "D(y)")
        for k in range(top):
            show(axes[r, 2 + k], as_picture(vectors[r, k]), f"λ={a['eigenvalues'][r, k]:.2f}")
    save_figure(fig, path)


def draw_jacobian(folder: str | Path, fmt: str = "png") -> list[Path]:
    """The spectra/trace figure and the eigenvector grid of a saved jacobian folder, as `fmt` files; their paths."""
    folder = Path(folder)
    a = saved(folder, "jacobian")
    spectra, eigenvectors = in_format(folder / SPECTRA, fmt), in_format(folder / EIGENVECTORS, fmt)
    spectra_figure(a, spectra)
    eigenvector_figure(a, eigenvectors)
    return [spectra, eigenvectors]
