"""The explorer's files: data/meta.js, data/chunk-NNNNN.js, data/map.js and data/channels.js (base64 arrays inside
<script>s, because a page opened from disk may not fetch), thumbnails in sprite sheets, and the static page itself."""

from __future__ import annotations

import base64
import json
import shutil
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np
from PIL import Image

from ..io import atomic_file, ensure_dir, finite, write_text

TILE, COLUMNS, PER_SHEET = 32, 64, 4096
CHUNK = 1000
HIST_BINS = 32
MAPS_PER_CHANNEL = 8
STATIC = ("explorer.html", "explorer.js", "style.css")


@dataclass(frozen=True)
class ExplorerData:
    """Everything the explorer shows, as saved by the represent, analyse and reconstruct stages."""

    phi: np.ndarray  # N×C, φ at `sigma`
    title: str
    rep: Path
    source: str
    sigma: float
    channel_pr: np.ndarray  # C, NaN for dead channels
    channel_mean: np.ndarray  # C, mean φ over images
    channel_top: np.ndarray  # C×t image ids, most activating first
    channel_top_values: np.ndarray  # C×t
    selectivity_split: float | None = None
    thumbnails: np.ndarray | None = None  # N×TILE×TILE×3 uint8
    labels: np.ndarray | None = None  # N, −1 unknown
    class_names: list[str] | None = None
    assignment: np.ndarray | None = None  # N cluster ids
    cluster_k: int | None = None
    neighbours: dict[str, np.ndarray] | None = None  # neighbour_table(): N×k ids and cosines, in φ and in pixels
    reconstructions: dict[int, list[dict]] = field(default_factory=dict)  # image id → [{src, phi_match_error}]
    centroid_reconstructions: dict[int, list[dict]] = field(default_factory=dict)  # cluster id → [...]
    not_computed: list[str] = field(default_factory=list)
    phi_map: dict | None = None  # analysis.embedding.phi_map(φ): method, coords N×2, explained_variance_ratio (PCA)
    maps: np.ndarray | None = None  # M×C×h×w activation maps of images 0…M−1 (the REP's maps/mid), one noise draw
    maps_sigma: float | None = None  # the σ of `maps`


def b64(array: np.ndarray, dtype: str) -> str:
    """Little-endian bytes of `array` as `dtype` (a typed array's element type), base64."""
    return base64.b64encode(np.ascontiguousarray(array, dtype=np.dtype(dtype).newbyteorder("<")).tobytes()).decode("ascii")


def channel_kinds(pr: np.ndarray, split: float | None) -> list[str]:
    """dead (no PR), selective (PR below the mixture split) or common, per channel."""
    return ["dead" if not np.isfinite(p) else "selective" if split is not None and p < split else "common" for p in pr]


def thumbnail_tile(image: np.ndarray) -> np.ndarray:
    """An H×W×C uint8 image as a TILE×TILE×3 uint8 tile (gray repeated, larger images resized)."""
    if image.shape[-1] == 1:
        image = np.repeat(image, 3, axis=-1)
    if image.shape[:2] != (TILE, TILE):
        image = np.asarray(Image.fromarray(image).resize((TILE, TILE), Image.Resampling.BILINEAR))
    return image


def write_sprites(thumbnails: np.ndarray, folder: Path) -> list[str]:
    """Sheets of PER_SHEET tiles, COLUMNS a row; image i is tile i % PER_SHEET of sheet i // PER_SHEET."""
    names = []
    for s, first in enumerate(range(0, len(thumbnails), PER_SHEET)):
        tiles = thumbnails[first : first + PER_SHEET]
        rows = -(-len(tiles) // COLUMNS)
        sheet = np.zeros((rows * COLUMNS, TILE, TILE, 3), np.uint8)
        sheet[: len(tiles)] = tiles
        sheet = sheet.reshape(rows, COLUMNS, TILE, TILE, 3).transpose(0, 2, 1, 3, 4).reshape(rows * TILE, COLUMNS * TILE, 3)
        name = f"sheet-{s:03d}.png"
        with atomic_file(folder / name) as tmp:
            Image.fromarray(sheet).save(tmp, format="PNG", compress_level=1)
        names.append(f"data/sprites/{name}")
    return names


def channel_histograms(phi: np.ndarray, bins: int = HIST_BINS) -> dict:
    """Each channel's histogram of φ over images, `bins` equal bins from its minimum to its maximum: lo, hi (C), counts C×bins."""
    lo, hi = phi.min(0), phi.max(0)
    width = np.where(hi > lo, hi - lo, 1.0)
    which = np.clip(((phi - lo) / width * bins).astype(np.int64), 0, bins - 1)
    counts = np.bincount((which + bins * np.arange(phi.shape[1])).ravel(), minlength=bins * phi.shape[1])
    return {"lo": lo.astype(float).tolist(), "hi": hi.astype(float).tolist(), "counts": counts.reshape(phi.shape[1], bins)}


def top_maps(phi: np.ndarray, maps: np.ndarray, t: int = MAPS_PER_CHANNEL) -> tuple[np.ndarray, np.ndarray]:
    """Per channel, the `t` images of those with maps that activate it most (C×t ids) and their maps of it (C×t×h×w)."""
    ids = np.argsort(-phi[: len(maps)], axis=0, kind="stable")[:t].T
    return ids, np.asarray(maps)[ids, np.arange(phi.shape[1])[:, None]]


def channels_file(data: ExplorerData) -> dict:
    """data/channels.js, read when a channel page opens: φ histograms, and the top images' activation maps when kept."""
    hist = channel_histograms(data.phi)
    out = {"bins": HIST_BINS, "lo": hist["lo"], "hi": hist["hi"], "counts": b64(hist["counts"], "i4"), "maps": None}
    if data.maps is not None and len(data.maps):
        ids, maps = top_maps(data.phi, data.maps)
        out["maps"] = {"images": len(data.maps), "sigma": data.maps_sigma, "shape": list(maps.shape), "ids": b64(ids, "i4"),
                       "phi": b64(np.take_along_axis(data.phi[: len(data.maps)].T, ids, 1), "f4"), "values": b64(maps, "f4")}
    return out


def map_file(data: ExplorerData) -> dict:
    """data/map.js, read when the map opens: the 2-D coordinates of every image's φ."""
    m = data.phi_map
    return {"method": m["method"], "explained": m.get("explained_variance_ratio"), "coords": b64(m["coords"], "f4")}


def meta(data: ExplorerData, sheets: list[str] | None, report: str) -> dict:
    n, c = data.phi.shape
    clusters = None
    if data.assignment is not None:
        k = data.cluster_k or int(data.assignment.max()) + 1
        clusters = {"k": k, "assignment": b64(data.assignment, "i2"), "sizes": np.bincount(data.assignment, minlength=k).tolist(),
                    "centroid_reconstructions": {str(i): v for i, v in data.centroid_reconstructions.items()}}
    return {
        "title": data.title, "n": n, "source": data.source, "block": "mid", "sigma": data.sigma, "channels": c,
        "k": 0 if data.neighbours is None else int(data.neighbours["neighbours"].shape[1]),
        "chunk_size": CHUNK, "chunks": -(-n // CHUNK),
        "sprite": None if sheets is None else {"tile": TILE, "columns": COLUMNS, "per_sheet": PER_SHEET, "sheets": sheets},
        "class_names": data.class_names,
        "labels": None if data.labels is None else b64(data.labels, "i2"),
        "channel": {"pr": data.channel_pr.tolist(), "mean": data.channel_mean.tolist(), "kind": channel_kinds(data.channel_pr, data.selectivity_split),
                    "top": data.channel_top.tolist(), "top_values": data.channel_top_values.tolist()},
        "selectivity_split": data.selectivity_split,
        "clusters": clusters,
        "reconstructions": {str(i): v for i, v in data.reconstructions.items()},
        "not_computed": data.not_computed,
        "map": None if data.phi_map is None else data.phi_map["method"],
        "report": report,
    }


def chunk(data: ExplorerData, i: int) -> dict:
    rows = slice(i * CHUNK, (i + 1) * CHUNK)
    out = {"phi": b64(data.phi[rows], "f4")}
    if data.neighbours is not None:
        for key, dtype in (("neighbours", "i4"), ("cosine", "f4"), ("pixel_neighbours", "i4"), ("pixel_cosine", "f4")):
            out[key] = b64(data.neighbours[key][rows], dtype)
    return out


def write_explorer(out: Path, data: ExplorerData, report: str = "index.html") -> Path:
    """OUT/explorer.html, OUT/assets/, OUT/data/: the explorer of `data`, loadable from disk, its way back to the report
    at `report` (a path from OUT). Returns the page."""
    folder = ensure_dir(out / "data")
    sheets = None if data.thumbnails is None else write_sprites(data.thumbnails, ensure_dir(folder / "sprites"))
    for i in range(-(-len(data.phi) // CHUNK)):
        write_text(folder / f"chunk-{i:05d}.js", f"DENOSCOPE_CHUNK({i}, {json.dumps(chunk(data, i))});\n")
    write_text(folder / "channels.js", f"DENOSCOPE_CHANNELS({json.dumps(finite(channels_file(data)))});\n")
    if data.phi_map is not None:
        write_text(folder / "map.js", f"DENOSCOPE_MAP({json.dumps(finite(map_file(data)))});\n")
    write_text(folder / "meta.js", f"window.DENOSCOPE_META = {json.dumps(finite(meta(data, sheets, report)))};\n")
    copy_static(out, STATIC)
    return out / "explorer.html"


def copy_static(out: Path, names: tuple[str, ...]) -> None:
    """Files of the package's reporting/static/ into OUT: pages beside index.html, scripts and style sheets in assets/."""
    static = resources.files("denoscope.reporting") / "static"
    assets = ensure_dir(out / "assets")
    for name in names:
        target = out / name if name.endswith(".html") else assets / name
        with resources.as_file(static / name) as src, atomic_file(target) as tmp:
            shutil.copyfile(src, tmp)
