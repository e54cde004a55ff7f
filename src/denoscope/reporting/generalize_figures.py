"""Figures of a saved `generalize` folder (the 2023 paper's memorisation → generalisation): drawing only."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from .figures import in_format, save_figure, saved, show

TRANSITION = "generalize.png"


def median_band(ax, sizes: np.ndarray, values: np.ndarray, label: str) -> None:
    """The median over samples (last axis, NaN: left out) against N, with the quartiles shaded; a gap where none is left."""
    kept = np.isfinite(values).any(-1)
    lo, mid, hi = np.full((3, len(sizes)), np.nan)
    if kept.any():
        lo[kept], mid[kept], hi[kept] = np.nanpercentile(values[kept], [25, 50, 75], axis=-1)
    ax.plot(sizes, mid, "o-", label=label)
    ax.fill_between(sizes, lo, hi, alpha=0.2)


def transition_figure(a: dict, path: Path) -> None:
    """N on the x axis: cosine between the two models' samples, cosine to the nearest training image (own and the
    other model's set; converged samples only, their count at the bottom), and the train − test denoising PSNR gap per σ."""
    sizes, ok = a["sizes"], a["converged"]
    fig = Figure(figsize=(12, 3.4), layout="constrained")
    pair, near, gap = fig.subplots(1, 3)
    median_band(pair, sizes, np.where(ok.all(1), a["pair_cosine"], np.nan), "model a vs model b")
    pair.set(title="same start, same noise: a vs b", ylabel="cosine similarity")
    median_band(near, sizes, np.where(ok, a["own_cosine"], np.nan).reshape(len(sizes), -1), "own training set")
    median_band(near, sizes, np.where(ok, a["other_cosine"], np.nan).reshape(len(sizes), -1), "other model's set")
    near.set(title="sample vs nearest training image", ylabel="cosine similarity")
    for n, count in zip(sizes, ok.reshape(len(sizes), -1).sum(1)):
        near.annotate(f"{count}/{ok[0].size}", (n, 0), xycoords=("data", "axes fraction"), ha="center", va="bottom", fontsize=7)
    for s, sigma in enumerate(a["eval_sigmas"]):
        gap.plot(sizes, (a["train_psnr"] - a["test_psnr"])[:, :, s].mean(1), "o-", label=f"σ = {sigma:g}")
    gap.axhline(0, color="0.7", lw=0.5)
    gap.set(title="denoising: train − held-out", ylabel="PSNR gap (dB)")
    for ax in (pair, near, gap):
        ax.set(xscale="log", xlabel="training images N", xlim=(sizes.min() / 1.5, sizes.max() * 1.5))  # set even when no sample converged
        ax.legend(fontsize=8)
    save_figure(fig, path)


def pairs_figure(a: dict, n: int, path: Path) -> None:
    """Columns are samples; rows: model a, model b, a's nearest image in its set, b's nearest image in its set."""
    rows = [("a", "model a"), ("b", "model b"), ("nearest_a", "nearest in set a"), ("nearest_b", "nearest in set b")]
    cols = len(a["a"])
    fig = Figure(figsize=(1.1 * cols + 0.2, 1.15 * len(rows) + 0.3), layout="constrained")
    axes = fig.subplots(len(rows), cols, squeeze=False)
    for r, (key, label) in enumerate(rows):
        for c in range(cols):
            show(axes[r, c], a[key][c].transpose(1, 2, 0), label if c == 0 else None)
    fig.suptitle(f"N = {n}")
    save_figure(fig, path)


def draw_generalize(folder: str | Path, fmt: str = "png") -> list[Path]:
    """The transition figure and one page of sample pairs per N of a saved generalize folder, as `fmt` files; their paths."""
    folder = Path(folder)
    summary = saved(folder, "generalize")
    written = [in_format(folder / TRANSITION, fmt)]
    transition_figure(summary, written[0])
    for n in summary["sizes"]:
        written.append(folder / f"pairs-{n:06d}.{fmt}")
        pairs_figure(saved(folder, f"samples-{n:06d}"), int(n), written[-1])
    return written
