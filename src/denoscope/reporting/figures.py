"""Matplotlib (Agg) figures of saved arrays: drawing only, no numbers computed here."""

from __future__ import annotations

from pathlib import Path
from typing import Mapping

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from ..io import atomic_file


def saved(folder: str | Path, name: str) -> dict[str, np.ndarray]:
    """The arrays of FOLDER/NAME.npz, read into memory: what a figure is drawn from."""
    with np.load(Path(folder) / f"{name}.npz", allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


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


FORMATS = ("png", "pdf", "svg")


def in_format(path: str | Path, fmt: str) -> Path:
    """The figure's path for the file format `fmt` (one of FORMATS): its suffix replaced."""
    return Path(path).with_suffix(f".{fmt}")


def save_figure(fig: Figure, path: str | Path) -> None:
    """Write the figure in the format its suffix names (PNG at 100 dpi; PDF and SVG as vectors, images embedded) under a
    temporary name, fsync it, then rename it into place."""
    with atomic_file(path) as tmp:
        FigureCanvasAgg(fig).print_figure(tmp, format=Path(path).suffix[1:], dpi=100)


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
    save_figure(fig, path)


def draw_denoise(folder: str | Path, fmt: str = "png") -> list[Path]:
    """denoised.png (or .pdf, .svg) of a saved denoise folder, from its examples.npz."""
    from ..evaluate import EXAMPLES, FIGURE

    folder = Path(folder)
    path = in_format(folder / FIGURE, fmt)
    with np.load(folder / f"{EXAMPLES}.npz") as examples:
        denoise_figure(dict(examples), path)
    return [path]


def image_grid(images: np.ndarray, path: str | Path, cols: int = 8, titles: list[str] | None = None, size: float = 1.2) -> None:
    """N×H×W×C images in [0, 1] in rows of `cols`, each with an optional title."""
    n = len(images)
    rows = -(-n // cols)
    fig = Figure(figsize=(size * cols, size * rows + 0.2 * bool(titles)), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False)
    for k, ax in enumerate(axes.flat):
        if k < n:
            show(ax, images[k], titles[k] if titles else None)
        else:
            ax.set_axis_off()
    save_figure(fig, path)


def distance_scatter(phi_distance2: np.ndarray, d2: np.ndarray, a: float, b: float, path: str | Path) -> None:
    """Eq. 3: d²(p₁, p₂) against ‖φ₁ − φ₂‖² per pair, with the lines of slope A and B that bound them."""
    fig = Figure(figsize=(4, 3.5), layout="constrained")
    ax = fig.subplots()
    ax.scatter(phi_distance2, d2, s=12)
    top = float(np.max(phi_distance2)) if len(phi_distance2) else 1.0
    for slope, name in ((a, "A"), (b, "B")):
        ax.plot([0, top], [0, slope * top], lw=0.8, label=f"{name} = {slope:.3g}")
    ax.set_xlabel("‖φ₁ − φ₂‖²")
    ax.set_ylabel("d²(p₁, p₂)")
    ax.set_title(f"B/A = {b / a:.2f}" if a > 0 else "B/A undefined", fontsize=9)
    ax.legend(fontsize=7)
    save_figure(fig, path)


def sigma_match_figure(before: np.ndarray, after: np.ndarray, path: str | Path) -> None:
    """Fig. 20: σ̂ of each sample just before a φ-matching step against σ̂ right after it (the diagonal: unchanged)."""
    fig = Figure(figsize=(3.6, 3.4), layout="constrained")
    ax = fig.subplots()
    ax.scatter(before, after, s=3, alpha=0.5)
    top = float(max(np.max(before), np.max(after))) if len(before) else 1.0
    ax.plot([0, top], [0, top], color="gray", lw=0.8)
    ax.set_xlabel(r"$\hat\sigma$ before matching")
    ax.set_ylabel(r"$\hat\sigma$ after matching")
    save_figure(fig, path)


RING = ((0, 1), (1, 2), (2, 1), (1, 0), (0, 0), (0, 2), (2, 2), (2, 0))  # cells around a 3×3 panel's centre: sides, then corners


def reconstruction_panels(targets: np.ndarray, samples: np.ndarray, path: str | Path, cols: int = 5, titles: list[str] | None = None) -> None:
    """Fig. 7: per target a 3×3 panel, the target (framed) at the centre and its samples (samples[t·k : (t+1)·k],
    up to 8) spread around it; panels in rows of `cols`."""
    t_count, k = len(targets), len(samples) // max(len(targets), 1)
    cols = min(cols, t_count)
    rows = -(-t_count // cols)
    fig = Figure(figsize=(2.2 * cols, 2.2 * rows + 0.25 * bool(titles)), layout="constrained")
    panels = fig.subfigures(rows, cols, squeeze=False, wspace=0.04, hspace=0.04)
    for t, panel in enumerate(panels.flat):
        axes = panel.subplots(3, 3, gridspec_kw={"wspace": 0.04, "hspace": 0.04})
        for ax in axes.flat:
            ax.set_axis_off()
        if t >= t_count:
            continue
        show(axes[1, 1], targets[t])
        for spine in axes[1, 1].spines.values():
            spine.set(visible=True, color="crimson", linewidth=2)
        axes[1, 1].set_axis_on()
        axes[1, 1].set_xticks([])
        axes[1, 1].set_yticks([])
        for j in range(min(k, len(RING))):
            show(axes[RING[j]], samples[t * k + j])
        if titles:
            panel.suptitle(titles[t], fontsize=8)
    save_figure(fig, path)


def training_figure(records: list[dict], path: str | Path) -> None:
    """The training loss by step (log scale) and, where it was checked, the held-out PSNR per σ beside the noisy input's."""
    losses = [(r["step"], r["loss"]) for r in records if "loss" in r]
    evals = [r for r in records if "psnr" in r]
    fig = Figure(figsize=(9, 3), layout="constrained")
    left, right = fig.subplots(1, 2)
    if losses:
        left.plot(*zip(*losses), lw=1)
        left.set_yscale("log")
    left.set_xlabel("step")
    left.set_ylabel("training MSE")
    for i, sigma in enumerate(evals[0]["psnr"] if evals else []):
        colour = f"C{i}"
        right.plot([r["step"] for r in evals], [r["psnr"][sigma] for r in evals], "o-", color=colour, ms=3, label=f"σ = {sigma}")
        right.axhline(evals[-1]["psnr_input"][sigma], color=colour, ls=":", lw=1)
    right.set_xlabel("step")
    right.set_ylabel("held-out PSNR (dB)")
    if evals:
        right.legend(fontsize=7)
    save_figure(fig, path)
