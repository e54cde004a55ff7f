"""What the report is given: stage folders recognised by the files each stage writes, read once and checked."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from ..errors import DataError
from ..io import MARKER, OUT_METRICS, written_by

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
    return collect([recognise(Path(p)) for p in paths])


def collect(found: list[Stage]) -> Inputs:
    """The stages of one report (or one run's column of it); two folders of a single-kind stage are refused by name."""
    stages: dict[str, list[Stage]] = {}
    for stage in found:
        if stage.kind in SINGLE and stages.get(stage.kind):
            raise DataError(f"two {stage.kind} folders given ({stages[stage.kind][0].path} and {stage.path}) for one run; a report "
                            "shows one per run")
        stages.setdefault(stage.kind, []).append(stage)
    return Inputs(stages)


def run_folder(model: str | Path | None) -> Path | None:
    """The run folder of a model path as stages record it (the run folder or its weights file)."""
    if model is None:
        return None
    path = Path(model)
    return (path.parent if path.suffix == ".safetensors" else path).resolve()


def recorded_argv(path: Path) -> list[str]:
    """The command line stage.json records for `path` (empty when it was not run from the CLI or is older)."""
    marker = path / MARKER
    return list(read_json(marker).get("argv") or []) if marker.is_file() else []


def owner_of(stage: Stage) -> Path | None:
    """The run a stage's saved records name: a run itself, a REP's model, an analysis's REP's model, or the --model of
    the command that wrote the folder; None when nothing says."""
    if stage.kind == "run":
        return stage.path.resolve()
    if stage.kind == "rep":
        return run_folder(stage.metrics.get("model", {}).get("path"))
    if stage.kind == "analysis" and stage.metrics.get("rep") and (Path(stage.metrics["rep"]) / "manifest.json").is_file():
        return run_folder(read_json(Path(stage.metrics["rep"]) / "manifest.json").get("model", {}).get("path"))
    argv = recorded_argv(stage.path)
    return run_folder(argv[argv.index("--model") + 1]) if "--model" in argv[:-1] else None


def rep_of(stage: Stage) -> Path | None:
    """The REP a REP or analysis folder is (or read)."""
    if stage.kind == "rep":
        return stage.path.resolve()
    return Path(stage.metrics["rep"]).resolve() if stage.kind == "analysis" and stage.metrics.get("rep") else None


def by_owner(found: list[Stage], owners: list[Path], owner: Callable[[Stage], Path | None]) -> dict[Path, list[Stage]]:
    """The stages under each owner: the one `owner` names when it is among `owners`, else the owner last named before."""
    groups: dict[Path, list[Stage]] = {o: [] for o in owners}
    last = owners[0]
    for stage in found:
        named = owner(stage)
        last = named if named in groups else last
        groups[last].append(stage)
    return groups


def labels(paths: list[Path]) -> list[str]:
    """Each folder's name, with its parent's where two share a name."""
    names = [p.name for p in paths]
    return [p.name if names.count(p.name) == 1 else f"{p.parent.name}/{p.name}" for p in paths]


def grouped(paths: list[str | Path]) -> list[tuple[str, Inputs]]:
    """The folders grouped into the report's columns, each named: by run — what each folder records (owner_of), else
    its position (with the run given last before it); the runs are the run folders given, or without any, the REPs'
    models — and a run given several REPs gets a column per REP (with its analysis; the run's other folders in the
    first). One column: named ''."""
    found = [recognise(Path(p)) for p in paths]
    runs = [s.path.resolve() for s in found if s.kind == "run"] or list(dict.fromkeys(
        o for s in found if s.kind == "rep" and (o := owner_of(s)) is not None)) or [Path()]
    columns: list[tuple[str, list[Stage]]] = []
    for run, name, stages in zip(runs, labels(runs), by_owner(found, runs, owner_of).values()):
        reps = [s.path.resolve() for s in stages if s.kind == "rep"]
        if len(reps) < 2:
            columns.append((name, stages))
            continue
        for rep, rep_name, part in zip(reps, labels(reps), by_owner(stages, reps, rep_of).values()):
            columns.append((f"{name} · {rep_name}" if len(runs) > 1 or run != Path() else rep_name, part))
    return [("", collect(found))] if len(columns) == 1 else [(name, collect(stages)) for name, stages in columns]
