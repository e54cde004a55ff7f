"""The figures of a saved sample, inverse, reconstruct or distance folder, drawn from its metrics.json and .npz
files alone: `draw_<stage>(folder)` writes the PNGs into the folder and returns their paths."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..io import OUT_METRICS
from .figures import distance_scatter, image_grid, reconstruction_panels, saved, sigma_match_figure


def draw_sample(folder: str | Path) -> list[Path]:
    """Fig. 19: the unconditional samples in rows of 8."""
    folder = Path(folder)
    image_grid(saved(folder, "samples")["samples"], folder / "samples.png")
    return [folder / "samples.png"]


def draw_inverse(folder: str | Path) -> list[Path]:
    """Rows: the originals, the pseudo-inverse M x_c, the solution with the denoiser's prior."""
    folder = Path(folder)
    a = saved(folder, "inverse")
    image_grid(np.concatenate([a["original"], a["pseudo_inverse"], a["result"]]), folder / "inverse.png", cols=len(a["original"]))
    return [folder / "inverse.png"]


def draw_reconstruct(folder: str | Path) -> list[Path]:
    """Fig. 7: each target (when it is an image) followed by its samples, one row per target, and the same as 3×3
    panels; fig. 20: σ̂ before against after every φ-matching call."""
    folder = Path(folder)
    a = saved(folder, "reconstruct")
    per_target = json.loads((folder / OUT_METRICS).read_text())["per_target"]
    samples, shown = a["samples"], a["targets"] if a["targets"].size else None
    drawn = [folder / "reconstruct.png"]
    if shown is None:
        image_grid(samples, drawn[0], cols=per_target)
    else:
        rows = [np.concatenate([shown[t : t + 1], samples[t * per_target : (t + 1) * per_target]]) for t in range(len(shown))]
        image_grid(np.concatenate(rows), drawn[0], cols=per_target + 1)
        reconstruction_panels(shown, samples, folder / "panels.png")
        drawn.append(folder / "panels.png")
    sigma_match_figure(a["sigma_before"], a["sigma_after"], folder / "sigma_match.png")
    return [*drawn, folder / "sigma_match.png"]


def draw_distance(folder: str | Path) -> list[Path]:
    """Eq. 3: d² against ‖φ₁ − φ₂‖² per pair, between the lines of slope A and B."""
    folder = Path(folder)
    a = saved(folder, "distance")
    m = json.loads((folder / OUT_METRICS).read_text())
    distance_scatter(a["phi_distance2"], a["d2"], m["A"], m["B"], folder / "distance.png")
    return [folder / "distance.png"]
