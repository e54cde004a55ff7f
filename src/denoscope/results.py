"""What a stage computed, in memory: its numbers and arrays, written to a folder only when asked."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .io import OUT_METRICS, check_writable, folder_lock, write_json, write_marker, write_npz


@dataclass(frozen=True)
class StageResult:
    """`metrics` (JSON-ready numbers, saved as metrics.json) and `arrays` (one .npz per name: name → arrays) of one
    stage; `save` writes them, and `report.draw` draws a saved folder's figures."""

    stage: str
    metrics: dict
    arrays: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)

    def save(self, out: str | Path) -> list[Path]:
        """metrics.json and the .npz files into `out` (created if needed), each written atomically; their paths."""
        out = Path(out)
        check_writable(out, stage=self.stage)
        with folder_lock(out):
            write_marker(out, self.stage)
            written = []
            for name, arrays in self.arrays.items():
                write_npz(out / f"{name}.npz", **arrays)
                written.append(out / f"{name}.npz")
            write_json(out / OUT_METRICS, self.metrics)
        return [*written, out / OUT_METRICS]
