"""The figures of any saved stage folder, from its files alone: which drawer a folder gets follows from what it holds."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from ..errors import ConfigError, DataError
from ..io import OUT_METRICS, written_by
from .analysis_figures import draw_analysis
from .figures import FORMATS, draw_denoise
from .generalize_figures import draw_generalize
from .inputs import STAGE_FILES
from .jacobian_figures import draw_jacobian
from .sampling_figures import draw_distance, draw_inverse, draw_reconstruct, draw_sample

# the figures drawn from each stage's saved files (the file that marks its folder: inputs.STAGE_FILES)
DRAWERS = {"denoise": draw_denoise, "analyse": draw_analysis, "sample": draw_sample, "inverse": draw_inverse,
           "reconstruct": draw_reconstruct, "distance": draw_distance, "jacobian": draw_jacobian, "generalize": draw_generalize}
MARKED = {stage: marker for stage, _, marker in STAGE_FILES if stage in DRAWERS}


def drawer_of(folder: str | Path) -> Callable[[Path, str], list[Path]]:
    """The drawer of the stage saved in `folder`, or a DataError saying why it has none."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"{folder} does not exist or is not a folder; expected a folder a stage saved")
    stage = written_by(folder)
    for name in [stage] if stage in DRAWERS else DRAWERS:
        if (folder / MARKED[name]).is_file() and (folder / OUT_METRICS).is_file():
            return DRAWERS[name]
    said = f"it holds the output of {stage}, which has no figures or did not finish" if stage else "it holds no saved stage with figures"
    raise DataError(f"{folder} cannot be drawn: {said}; expected {OUT_METRICS} beside one of "
                    f"{', '.join(MARKED.values())} (a folder a stage's .save wrote)")


def check_format(fmt: str) -> str:
    """`fmt` when matplotlib writes it here (FORMATS), checked before any figure is drawn."""
    if fmt not in FORMATS:
        raise ConfigError(f"figures are drawn as one of {', '.join(FORMATS)}, not {fmt!r}")
    return fmt


def draw(folder: str | Path, fmt: str = "png") -> list[Path]:
    """Draw the figures of the stage saved in `folder` into it, as PNG, PDF or SVG files (`fmt`); their paths."""
    return drawer_of(folder)(Path(folder), check_format(fmt))
