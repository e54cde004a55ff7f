"""The figures of any saved stage folder, from its files alone: which drawer a folder gets follows from what it holds."""

from __future__ import annotations

from pathlib import Path

from ..errors import DataError
from ..io import OUT_METRICS, written_by
from .analysis_figures import draw_analysis
from .figures import draw_denoise
from .generalize_figures import draw_generalize
from .inputs import STAGE_FILES
from .jacobian_figures import draw_jacobian
from .sampling_figures import draw_distance, draw_inverse, draw_reconstruct, draw_sample

# the figures drawn from each stage's saved files (the file that marks its folder: inputs.STAGE_FILES)
DRAWERS = {"denoise": draw_denoise, "analyse": draw_analysis, "sample": draw_sample, "inverse": draw_inverse,
           "reconstruct": draw_reconstruct, "distance": draw_distance, "jacobian": draw_jacobian, "generalize": draw_generalize}
MARKED = {stage: marker for stage, _, marker in STAGE_FILES if stage in DRAWERS}


def draw(folder: str | Path) -> list[Path]:
    """Draw the figures of the stage saved in `folder` into it; their paths."""
    folder = Path(folder)
    stage = written_by(folder)
    for name in [stage] if stage in DRAWERS else DRAWERS:
        if (folder / MARKED[name]).is_file() and (folder / OUT_METRICS).is_file():
            return DRAWERS[name](folder)
    said = f"it holds the output of {stage}, which has no figures or did not finish" if stage else "it holds no saved stage with figures"
    raise DataError(f"{folder} cannot be drawn: {said}; expected {OUT_METRICS} beside one of "
                    f"{', '.join(MARKED.values())} (a folder a stage's .save wrote)")
