"""The figures of a saved sample, inverse, reconstruct or distance folder, drawn from its metrics.json and .npz
files alone: `draw_<stage>(folder, fmt)` writes the figures (PNG, PDF or SVG) into the folder and returns their paths."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..io import OUT_METRICS
from .figures import distance_scatter, image_grid, reconstruction_panels, saved, sigma_match_figure


def draw_sample(folder: str | Path, fmt: str = "png") -> list[Path]:
    """Fig. 19: the unconditional samples in rows of 8."""
    folder = Path(folder)
    image_grid(saved(folder, "samples")["samples"], folder / f"samples.{fmt}")
    return [folder / f"samples.{fmt}"]


def draw_inverse(folder: str | Path, fmt: str = "png") -> list[Path]:
    """Rows: the originals, the pseudo-inverse M x_c, the solution with the denoiser's prior."""
    folder = Path(folder)
    a = saved(folder, "inverse")
    image_grid(np.concatenate([a["original"], a["pseudo_inverse"], a["result"]]), folder / f"inverse.{fmt}", cols=len(a["original"]))
    return [folder / f"inverse.{fmt}"]


def draw_reconstruct(folder: str | Path, fmt: str = "png") -> list[Path]:
    """Fig. 7: each target (when it is an image) followed by its samples, one row per target, and the same as 3×3
    panels; fig. 20: σ̂ before against after every φ-matching call."""
    folder = Path(folder)
    a = saved(folder, "reconstruct")
    per_target = json.loads((folder / OUT_METRICS).read_text())["per_target"]
    samples, shown = a["samples"], a["targets"] if a["targets"].size else None
    drawn = [folder / f"reconstruct.{fmt}"]
    if shown is None:
        image_grid(samples, drawn[0], cols=per_target)
    else:
        rows = [np.concatenate([shown[t : t + 1], samples[t * per_target : (t + 1) * per_target]]) for t in range(len(shown))]
        image_grid(np.concatenate(rows), drawn[0], cols=per_target + 1)
        reconstruction_panels(shown, samples, folder / f"panels.{fmt}")
        drawn.append(folder / f"panels.{fmt}")
    sigma_match_figure(a["sigma_before"], a["sigma_after"], folder / f"sigma_match.{fmt}")
    return [*drawn, folder / f"sigma_match.{fmt}"]


def draw_distance(folder: str | Path, fmt: str = "png") -> list[Path]:
    """Eq. 3: d² against ‖φ₁ − φ₂‖² per pair, between the lines of slope A and B."""
    folder = Path(folder)
    a = saved(folder, "distance")
    m = json.loads((folder / OUT_METRICS).read_text())
    distance_scatter(a["phi_distance2"], a["d2"], m["A"], m["B"], folder / f"distance.{fmt}")
    return [folder / f"distance.{fmt}"]
