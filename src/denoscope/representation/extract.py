"""Extraction: ā_j(x + σz) for chosen blocks, averaged over noise draws z keyed by (seed, image, draw), streamed to REP/
or kept in memory.

φ(x, σ) = E_z ā_mid(x + σz): the draws of one image go through the network together, only the blocks needed run
(never the decoder for blocks up to `mid`), and each finished image is marked done, so an interrupted run resumes.
"""

from __future__ import annotations

import contextlib
import math
import time
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from rich.progress import Progress

from .. import rng
from ..checkpoint import file_hash, resolve
from ..config import to_dict
from ..data import ImageSet, Transform, stack_images
from ..denoiser import Denoiser, noise_averaged_means
from ..errors import ConfigError, Note
from ..io import check_writable, ensure_dir, folder_lock, remove_stale_temps, write_marker
from .store import DONE, MANIFEST, fingerprint, Representation, RowArray, RowFile, side_arrays, write_manifest, write_side_files

AUTHORS_SIGMAS = (0, 10, 30, 50, 70, 90, 110, 130, 150, 170, 190, 210, 230, 255, 300, 400, 510, 650, 765)  # /255


def default_sigmas(sigma_max: float) -> tuple[tuple[float, ...], str | None]:
    """The authors' σ list (in units of 1/255) clipped to the model's training range, and a note when clipped."""
    sigmas = tuple(s / 255 for s in AUTHORS_SIGMAS)
    kept = tuple(s for s in sigmas if s <= sigma_max + 1e-9)
    note = None
    if len(kept) < len(sigmas):
        note = f"σ list clipped to the model's training range σ ≤ {sigma_max:g}: {len(sigmas) - len(kept)} of the authors' {len(sigmas)} levels left out"
    return kept, note


@dataclass(frozen=True)
class RepConfig:
    """What one extraction computes; a resumed extraction must ask for the same."""

    sigmas: tuple[float, ...]
    draws: int = 20
    blocks: tuple[str, ...] = ("mid",)
    inputs: bool = False
    seed: int = 0
    image_size: int | None = None
    maps: int = 256
    maps_sigma: float = 0.5

    def __post_init__(self) -> None:
        object.__setattr__(self, "sigmas", tuple(float(s) for s in self.sigmas))
        object.__setattr__(self, "blocks", tuple(self.blocks))
        if not self.sigmas or not all(math.isfinite(s) and s >= 0 for s in self.sigmas):
            raise ConfigError(f"noise levels σ must be finite and ≥ 0, at least one; got {list(self.sigmas)}")
        if list(self.sigmas) != sorted(set(self.sigmas)):
            raise ConfigError(f"noise levels σ must be distinct and ascending; got {list(self.sigmas)}")
        if self.draws < 1:
            raise ConfigError(f"noise draws must be at least 1, got {self.draws}")
        if self.maps < 0:
            raise ConfigError(f"the number of images whose activation maps are kept must be ≥ 0, got {self.maps}")
        if not self.blocks:
            raise ConfigError("name at least one block to extract")


def manifest_for(config: RepConfig, denoiser: Denoiser, images: ImageSet, model_path: str | Path | None, blocks: dict[str, int],
                 note: str | None) -> dict:
    model_path = None if model_path is None else resolve(model_path)
    return {
        "format": 1,
        "source": images.name,
        "images": len(images),
        "fingerprint": fingerprint(images),
        "blocks": blocks,
        "sigmas": list(config.sigmas),
        "draws": config.draws,
        "seed": config.seed,
        "inputs": config.inputs,
        "image_size": config.image_size,
        "model": {"path": None if model_path is None else str(model_path), "sha256": None if model_path is None else file_hash(model_path),
                  "config": to_dict(denoiser.config)},
        "class_names": images.class_names,
        "factors": sorted(images.factors) if images.factors else None,
        "maps": {"block": "mid", "sigma": config.sigmas[int(np.argmin(np.abs(np.array(config.sigmas) - config.maps_sigma)))],
                 "count": min(config.maps, len(images))} if config.maps and "mid" in config.blocks else None,
        "notes": [note] if note else [],
    }


IDENTITY = ("source", "images", "blocks", "sigmas", "draws", "seed", "inputs", "image_size", "maps")


def open_or_create(out: Path, manifest: dict) -> None:
    """Start REP/ afresh, or check that an existing one was started with the same request."""
    if (out / MANIFEST).exists():
        old = Representation(out).manifest
        changed = [k for k in IDENTITY if old.get(k) != manifest.get(k)]
        if old["model"]["sha256"] != manifest["model"]["sha256"]:
            changed.insert(0, "model")
        if old.get("fingerprint") not in (None, manifest["fingerprint"]):
            changed.append("pixels (the source's images changed or were reordered)")
        if changed:
            raise ConfigError(f"{out} holds an extraction with other {', '.join(changed)}; resume it with the same request or choose another output folder")
        return
    ensure_dir(out, "representation folder")
    remove_stale_temps(out)
    write_marker(out, "represent")
    write_manifest(out, manifest)


def sinks(make, blocks: dict[str, int], rows: tuple[int, int], map_shape: tuple | None) -> tuple[dict, Any, Any]:
    """The rows of every block, the done marks and (or None) the activation maps, each made by `make(name, shape[, dtype])`
    under its file name: RowFiles of a folder or RowArrays in memory."""
    means = {k: make(f"means/{k}", (*rows, c)) for k, c in blocks.items()}
    return means, make("done", rows[:1], np.uint8), make("maps/mid", map_shape) if map_shape else None


def close_all(means: dict, done, maps) -> None:
    for f in [*means.values(), done, maps]:
        if f is not None:
            f.close()


def trained_sigma_max(denoiser: Denoiser) -> float | None:
    """The largest σ the denoiser was trained on, from its run folder (None for weights that stand alone)."""
    from ..training import training_config

    trained = training_config(denoiser.source) if denoiser.source is not None else None
    return trained.sigma_max if trained else None


def model_sigmas(denoiser: Denoiser, sigma_max: float = math.inf) -> tuple[tuple[float, ...], str | None]:
    """The authors' σ list clipped to the range the denoiser was trained on (read from its run folder), else to
    `sigma_max`; and a note when clipped."""
    trained = trained_sigma_max(denoiser)
    return default_sigmas(trained if trained is not None else sigma_max)


FAR_BEYOND = 2.0  # σ above this multiple of the trained σ_max is said to be extrapolation


def check_training_range(denoiser: Denoiser, sigmas: Sequence[float]) -> None:
    """A note for σ far beyond the denoiser's training range (FAR_BEYOND × its run's σ_max): its output there was never trained."""
    trained = trained_sigma_max(denoiser)
    far = [s for s in sigmas if trained is not None and s > FAR_BEYOND * trained]
    if far:
        warnings.warn(f"σ = {', '.join(f'{s:g}' for s in far)} lies far beyond the model's training range σ ≤ {trained:g}: "
                      "its output there is extrapolation, not denoising it learned", Note)


def represent(
    denoiser: Denoiser,
    images: ImageSet,
    config: RepConfig | None = None,
    out: str | Path | None = None,
    model_path: str | Path | None = None,
    note: str | None = None,
    batch_images: int = 16,
    progress: bool = False,
) -> Representation:
    """ā of `config`'s blocks and φ of every image at every σ (default config: the mid block at the model's σ list).

    Without `out` it is extracted in memory. With `out` it goes into the REP/ folder (an interrupted one is resumed),
    and under torchrun each process takes every world-th image. The weights (`model_path`, default the file the
    denoiser was loaded from) are named by hash in the manifest, so a later stage can refuse other weights.
    """
    if config is None:
        sigmas, clipped = model_sigmas(denoiser)
        config, note = RepConfig(sigmas=sigmas), note or clipped
    if out is not None:
        out = Path(out)
        check_writable(out, "representation folder", stage="represent")
    check_training_range(denoiser, config.sigmas)
    if batch_images < 1:
        raise ConfigError(f"images per batch must be at least 1, got {batch_images}")
    model_path = model_path if model_path is not None else denoiser.source
    if out is not None and model_path is None:
        raise ConfigError("a REP folder names the weights it was extracted from: give model_path, or a denoiser loaded from a file")
    names = checked_blocks(denoiser, config)
    transform = Transform(size=config.image_size, mode="center-crop" if config.image_size else "resize")
    probe = stack_images(images, [0], transform).to(denoiser.device)
    with torch.no_grad():
        blocks = {k: v.shape[1] for k, v in denoiser.means(probe, names, config.inputs).items()}
    manifest = manifest_for(config, denoiser, images, model_path, blocks, note)
    map_shape = (manifest["maps"]["count"], blocks["mid"], *maps_shape(denoiser, probe)) if manifest["maps"] else None
    rows = (len(images), len(config.sigmas))
    if out is None:
        made: dict[str, RowArray] = {}
        means, done, maps = sinks(lambda name, shape, dtype=np.float32: made.setdefault(name, RowArray(shape, dtype)), blocks, rows, map_shape)
        stats = extract(denoiser, images, config, names, transform, list(range(len(images))), means, done, maps, manifest, batch_images, progress)
        rep = Representation(None, manifest, {name: f.array for name, f in made.items()} | side_arrays(images.labels, images.factors))
    else:
        rank = dist.get_rank() if dist.is_initialized() else 0
        with folder_lock(out, "representation folder") if rank == 0 else contextlib.nullcontext():
            stats = extract_into(out, denoiser, images, config, names, transform, manifest, blocks, rows, map_shape, batch_images, progress)
        rep = Representation(out)
    rep.extracted = stats
    return rep


def extract_into(out: Path, denoiser: Denoiser, images: ImageSet, config: RepConfig, names: tuple[str, ...], transform: Transform,
                 manifest: dict, blocks: dict[str, int], rows: tuple[int, int], map_shape: tuple | None, batch_images: int,
                 progress: bool) -> dict:
    """The REP/ folder's part of `represent`: created (or checked) by rank 0, this process's unfinished images extracted into it."""
    rank, world = (dist.get_rank(), dist.get_world_size()) if dist.is_initialized() else (0, 1)

    def make(name: str, shape: tuple, dtype=np.float32) -> RowFile:
        return RowFile(out / f"{name}.npy", shape, dtype)

    if rank == 0:
        open_or_create(out, manifest)
        write_side_files(out, images.labels, images.factors)
        close_all(*sinks(make, blocks, rows, map_shape))
    if world > 1:
        dist.barrier()
    means, done, maps = sinks(make, blocks, rows, map_shape)
    finished = np.load(out / DONE, allow_pickle=False).astype(bool)
    todo = [i for i in range(rank, rows[0], world) if not finished[i]]
    try:
        stats = extract(denoiser, images, config, names, transform, todo, means, done, maps, manifest, batch_images, progress and rank == 0)
    finally:
        close_all(means, done, maps)
    if world > 1:
        dist.barrier()
    return stats


def extract(denoiser: Denoiser, images: ImageSet, config: RepConfig, names: tuple[str, ...], transform: Transform, todo: list[int],
            means: dict, done, maps, manifest: dict, batch_images: int, progress: bool) -> dict:
    """The one extraction loop: the `todo` images in batches, each batch's rows written to its sinks, then marked done."""
    draws_done, start = 0, time.perf_counter()
    with Progress(disable=not progress) as bar:
        task = bar.add_task("represent", total=len(todo))
        for k in range(0, len(todo), batch_images):
            idx = todo[k : k + batch_images]
            x = stack_images(images, idx, transform).to(denoiser.device)
            with torch.no_grad():
                rows = noise_averaged_means(denoiser, x, idx, config.sigmas, config.draws, config.seed, names, config.inputs)
                if maps is not None and idx[0] < maps.shape[0]:
                    keep = [j for j, i in enumerate(idx) if i < maps.shape[0]]
                    kept = [idx[j] for j in keep]
                    maps.write(kept, mid_maps(denoiser, x[keep], kept, manifest["maps"]["sigma"], config.seed).cpu().numpy())
            draws_done += len(idx) * sum(1 if s == 0 else config.draws for s in config.sigmas)
            for name, f in means.items():
                f.write(idx, rows[name].cpu().numpy())
                f.sync()
            if maps is not None:
                maps.sync()
            done.write(idx, np.ones(len(idx), np.uint8))
            done.sync()
            bar.update(task, advance=len(idx))
    seconds = time.perf_counter() - start
    return {"images": len(todo), "forward_passes": draws_done, "seconds": seconds,
            "images_x_draws_per_s": draws_done / seconds if seconds > 0 else float("nan"), "config": asdict(config)}


def checked_blocks(denoiser: Denoiser, config: RepConfig) -> tuple[str, ...]:
    """The network blocks `config` asks for (NAME for NAME.in), or ConfigError naming the unknown ones."""
    order = denoiser.config.block_names
    names = tuple(b.removesuffix(".in") for b in config.blocks)
    unknown = [b for b in names if b not in order]
    if unknown:
        raise ConfigError(f"unknown block(s) {', '.join(unknown)}; expected some of {', '.join(order)}")
    return names


def mid_maps(denoiser: Denoiser, x: torch.Tensor, ids: list[int], sigma: float, seed: int) -> torch.Tensor:
    """a_mid(x + σz) before the spatial mean, with z the first of the draws that φ averages over."""
    z = rng.image_noise(x.shape[1:], seed, ids, draw=0, device=x.device).to(x.dtype)
    return denoiser.blocks(x + sigma * z, ("mid",))["mid"]


def maps_shape(denoiser: Denoiser, probe: torch.Tensor) -> tuple[int, int]:
    with torch.no_grad():
        return tuple(denoiser.blocks(probe, ("mid",))["mid"].shape[-2:])
