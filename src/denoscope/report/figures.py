"""Matplotlib (Agg) figures of saved arrays: drawing only, no numbers computed here."""

from __future__ import annotations

from pathlib import Path
from typing import Mapping

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from ..io import atomic_file


def show(ax: Axes, image: np.ndarray, title: str | None = None) -> None:
    """An H×W×C image in [0, 1] (clipped), grayscale when C = 1."""
    image = np.clip(image, 0.0, 1.0)
    if image.shape[-1] == 1:
        ax.imshow(image[..., 0], cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
    else:
        ax.imshow(image, interpolation="nearest")
    ax.set_axis_off()
    if title:
        ax.set_title(title, fontsize=8)


def save_png(fig: Figure, path: str | Path) -> None:
    """Write the PNG under a temporary name, fsync it, then rename it into place."""
    with atomic_file(path) as tmp:
        FigureCanvasAgg(fig).print_figure(tmp, format="png", dpi=100)


def denoise_figure(examples: Mapping[str, np.ndarray], path: str | Path) -> None:
    """One row per example: the clean image, then noisy and denoised at each σ."""
    clean, noisy, denoised, sigmas = examples["clean"], examples["noisy"], examples["denoised"], examples["sigmas"]
    rows, cols = len(clean), 1 + 2 * len(sigmas)
    fig = Figure(figsize=(1.6 * cols, 1.6 * rows + 0.3), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False)
    for r in range(rows):
        show(axes[r, 0], clean[r], "clean" if r == 0 else None)
        for s, sigma in enumerate(sigmas):
            show(axes[r, 1 + 2 * s], noisy[s, r], f"σ={sigma:g} noisy" if r == 0 else None)
            show(axes[r, 2 + 2 * s], denoised[s, r], f"σ={sigma:g} denoised" if r == 0 else None)
    save_png(fig, path)
