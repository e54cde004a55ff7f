"""The figures of any saved stage folder, from its files alone: which drawer a folder gets follows from what it holds."""

from __future__ import annotations

from pathlib import Path

from ..errors import DataError
from .analysis_figures import draw_analysis
from .figures import draw_denoise
from .inputs import recognise
from .sampling_figures import draw_distance, draw_inverse, draw_reconstruct, draw_sample

DRAWERS = {"denoise": draw_denoise, "analysis": draw_analysis, "samples": draw_sample, "inverse": draw_inverse,
           "reconstruct": draw_reconstruct, "distance": draw_distance}


def draw(folder: str | Path) -> list[Path]:
    """Draw the figures of the stage that wrote `folder` into it; their paths."""
    stage = recognise(Path(folder))
    if stage.kind not in DRAWERS:
        raise DataError(f"{folder} is a {stage.kind} folder, which has no figures of its own; expected a folder that "
                        f"{', '.join(DRAWERS)} wrote")
    return DRAWERS[stage.kind](folder)
