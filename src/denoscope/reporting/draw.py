"""The figures of any saved stage folder, from its files alone: which drawer a folder gets follows from what it holds."""

from __future__ import annotations

from pathlib import Path

from ..errors import DataError
from ..io import OUT_METRICS, written_by
from .analysis_figures import draw_analysis
from .figures import draw_denoise
from .generalize_figures import draw_generalize
from .jacobian_figures import draw_jacobian
from .sampling_figures import draw_distance, draw_inverse, draw_reconstruct, draw_sample

# the file each stage's .save writes beside metrics.json, and the figures drawn from them
DRAWERS = {"denoise": ("examples.npz", draw_denoise), "analyse": ("selectivity.npz", draw_analysis),
           "sample": ("samples.npz", draw_sample), "inverse": ("inverse.npz", draw_inverse),
           "reconstruct": ("reconstruct.npz", draw_reconstruct), "distance": ("distance.npz", draw_distance),
           "jacobian": ("jacobian.npz", draw_jacobian), "generalize": ("generalize.npz", draw_generalize)}


def draw(folder: str | Path) -> list[Path]:
    """Draw the figures of the stage saved in `folder` into it; their paths."""
    folder = Path(folder)
    stage = written_by(folder)
    for marker, drawer in [DRAWERS[stage]] if stage in DRAWERS else DRAWERS.values():
        if (folder / marker).is_file() and (folder / OUT_METRICS).is_file():
            return drawer(folder)
    said = f"it holds the output of {stage}, which has no figures or did not finish" if stage else "it holds no saved stage with figures"
    raise DataError(f"{folder} cannot be drawn: {said}; expected {OUT_METRICS} beside one of "
                    f"{', '.join(m for m, _ in DRAWERS.values())} (a folder a stage's .save wrote)")
