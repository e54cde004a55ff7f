"""What the report is given: stage folders recognised by the files each stage writes, read once and checked."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import DataError
from ..io import OUT_METRICS, written_by

# every stage that writes a folder: its name, the report's name for that folder, and the file that marks it when the
# folder has no stage.json (most specific first: a REP's manifest before a run's config). draw.py reads the same table.
STAGE_FILES = (
    ("represent", "rep", "manifest.json"),
    ("train", "run", "config.toml"),
    ("analyse", "analysis", "selectivity.npz"),
    ("denoise", "denoise", "examples.npz"),
    ("sample", "samples", "samples.npz"),
    ("inverse", "inverse", "inverse.npz"),
    ("reconstruct", "reconstruct", "reconstruct.npz"),
    ("distance", "distance", "distance.npz"),
    ("jacobian", "jacobian", "jacobian.npz"),
    ("generalize", "generalize", "generalize.npz"),
)
MARKERS = tuple((kind, marker) for _, kind, marker in STAGE_FILES)
KINDS = {stage: kind for stage, kind, _ in STAGE_FILES}
SINGLE = ("run", "rep", "analysis", "denoise", "samples", "distance", "jacobian", "generalize")


@dataclass
class Stage:
    """One stage folder: its kind, path, saved numbers (metrics.json; the manifest of a REP; none for a run) and its
    arrays, opened on demand."""

    kind: str
    path: Path
    metrics: dict = field(default_factory=dict)

    def arrays(self, name: str) -> dict[str, np.ndarray]:
        path = self.path / f"{name}.npz"
        try:
            with np.load(path, allow_pickle=False) as z:
                return {k.replace("__", "/"): z[k] for k in z.files}
        except (OSError, ValueError) as e:
            raise DataError(f"{path} cannot be read as a saved .npz of the {self.kind} stage ({e})") from None


@dataclass
class Inputs:
    """The stage folders of one report: at most one of each kind in SINGLE, any number of inverse/reconstruct."""

    stages: dict[str, list[Stage]]

    def one(self, kind: str) -> Stage | None:
        found = self.stages.get(kind, [])
        return found[0] if found else None

    def all(self, kind: str) -> list[Stage]:
        return self.stages.get(kind, [])


def read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise DataError(f"{path} is not readable JSON ({e}); expected the file a denoscope stage writes") from None


def recognise(path: Path) -> Stage:
    """The stage that wrote `path`, or DataError naming the folder and what was expected in it."""
    if not path.is_dir():
        raise DataError(f"{path} is not a folder; expected a stage output folder (a run, REP, analysis, denoise, samples, "
                        "inverse, reconstruct, distance, jacobian or generalize folder)")
    stage = written_by(path)
    if stage is not None:
        if stage not in KINDS:
            raise DataError(f"{path} holds the output of {stage}, which a report does not show")
        return opened(path, KINDS[stage], dict(MARKERS)[KINDS[stage]])
    for kind, marker in MARKERS:
        if (path / marker).is_file():
            return opened(path, kind, marker)
    raise DataError(f"{path} holds none of {', '.join(m for _, m in MARKERS)}; expected a denoscope stage output folder")


def opened(path: Path, kind: str, marker: str) -> Stage:
    """The `kind` folder `path` with its numbers (none for a run), or DataError when the stage did not finish there."""
    if kind == "run":
        return Stage(kind, path)
    numbers = path / (marker if kind == "rep" else OUT_METRICS)
    if not numbers.is_file():
        raise DataError(f"{path} has no {numbers.name}; the {kind} stage did not finish there")
    return Stage(kind, path, read_json(numbers))


def gather(paths: list[str | Path]) -> Inputs:
    """Recognise every folder; two folders of a single-kind stage are refused by name."""
    stages: dict[str, list[Stage]] = {}
    for path in paths:
        stage = recognise(Path(path))
        if stage.kind in SINGLE and stages.get(stage.kind):
            raise DataError(f"two {stage.kind} folders given ({stages[stage.kind][0].path} and {path}); a report shows one")
        stages.setdefault(stage.kind, []).append(stage)
    return Inputs(stages)
