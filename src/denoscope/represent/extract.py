"""Extraction: ā_j(x + σz) for chosen blocks, averaged over noise draws z keyed by (seed, image, draw), streamed to REP/.

φ(x, σ) = E_z ā_mid(x + σz): the draws of one image go through the network together, only the blocks needed run
(never the decoder for blocks up to `mid`), and each finished image is marked done, so an interrupted run resumes.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from rich.progress import Progress

from .. import rng
from ..checkpoint import file_hash, resolve
from ..config import to_dict
from ..data import ImageSet, Transform, stack_images
from ..denoiser import Denoiser, noise_averaged_means
from ..errors import ConfigError
from ..io import check_writable, ensure_dir, remove_stale_temps
from .store import DONE, MANIFEST, Representation, RowFile, block_file, map_file, write_manifest, write_side_files

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


def manifest_for(config: RepConfig, denoiser: Denoiser, images: ImageSet, model_path: Path, blocks: dict[str, int], note: str | None) -> dict:
    return {
        "format": 1,
        "source": images.name,
        "images": len(images),
        "blocks": blocks,
        "sigmas": list(config.sigmas),
        "draws": config.draws,
        "seed": config.seed,
        "inputs": config.inputs,
        "image_size": config.image_size,
        "model": {"path": str(model_path), "sha256": file_hash(model_path), "config": to_dict(denoiser.config)},
        "class_names": images.class_names,
        "factors": sorted(images.factors) if images.factors else None,
        "maps": {"block": "mid", "sigma": config.sigmas[int(np.argmin(np.abs(np.array(config.sigmas) - config.maps_sigma)))],
                 "count": min(config.maps, len(images))} if config.maps and "mid" in config.blocks else None,
        "notes": [note] if note else [],
    }


IDENTITY = ("source", "images", "blocks", "sigmas", "draws", "seed", "inputs", "image_size", "maps")


def open_files(out: Path, blocks: dict[str, int], rows: tuple[int, int], map_shape: tuple | None) -> list:
    """The per-block row files, the done marks and (or None) the activation maps, created at full size if new."""
    files = [RowFile(block_file(out, k), (*rows, c)) for k, c in blocks.items()]
    return [*files, RowFile(out / DONE, rows[:1], np.uint8), RowFile(map_file(out, "mid"), map_shape) if map_shape else None]


def open_or_create(out: Path, manifest: dict) -> None:
    """Start REP/ afresh, or check that an existing one was started with the same request."""
    file = out / MANIFEST
    if file.exists():
        old = Representation(out).manifest
        changed = [k for k in IDENTITY if old.get(k) != manifest.get(k)]
        if old["model"]["sha256"] != manifest["model"]["sha256"]:
            changed.insert(0, "model")
        if changed:
            raise ConfigError(f"{out} holds an extraction with other {', '.join(changed)}; resume it with the same request or choose another output folder")
        return
    ensure_dir(out, "representation folder")
    remove_stale_temps(out)
    write_manifest(out, manifest)


def represent(
    denoiser: Denoiser,
    images: ImageSet,
    out: str | Path,
    config: RepConfig,
    model_path: str | Path,
    note: str | None = None,
    batch_images: int = 16,
    progress: bool = True,
) -> dict:
    """Extract into `out` (resuming what is there); under torchrun each process takes every world-th image."""
    out = Path(out)
    check_writable(out, "representation folder")
    if batch_images < 1:
        raise ConfigError(f"images per batch must be at least 1, got {batch_images}")
    order = denoiser.config.block_names
    names = [b.removesuffix(".in") for b in config.blocks]
    unknown = [b for b in names if b not in order]
    if unknown:
        raise ConfigError(f"unknown block(s) {', '.join(unknown)}; expected some of {', '.join(order)}")
    transform = Transform(size=config.image_size, mode="center-crop" if config.image_size else "resize")
    probe = stack_images(images, [0], transform)
    with torch.no_grad():
        shapes = {k: v.shape[1] for k, v in denoiser.means(probe.to(denoiser.device), tuple(names), config.inputs).items()}
    blocks = {k: shapes[k] for k in shapes}
    model_path = resolve(model_path)
    manifest = manifest_for(config, denoiser, images, model_path, blocks, note)
    rank, world = (dist.get_rank(), dist.get_world_size()) if dist.is_initialized() else (0, 1)
    n, s_count = len(images), len(config.sigmas)
    map_shape = (manifest["maps"]["count"], blocks["mid"], *maps_shape(denoiser, probe)) if manifest["maps"] else None
    if rank == 0:
        open_or_create(out, manifest)
        write_side_files(out, images.labels, images.factors)
        for f in open_files(out, blocks, (n, s_count), map_shape):
            if f is not None:
                f.close()
    if world > 1:
        dist.barrier()
    *block_files, done, maps = open_files(out, blocks, (n, s_count), map_shape)
    files = dict(zip(blocks, block_files))
    finished = np.load(out / DONE, allow_pickle=False).astype(bool)
    todo = [i for i in range(rank, n, world) if not finished[i]]
    draws_done, start = 0, time.perf_counter()
    with Progress(disable=not progress or rank != 0) as bar:
        task = bar.add_task("represent", total=len(todo))
        for k in range(0, len(todo), batch_images):
            idx = todo[k : k + batch_images]
            x = stack_images(images, idx, transform).to(denoiser.device)
            with torch.no_grad():
                means = noise_averaged_means(denoiser, x, idx, config.sigmas, config.draws, config.seed, tuple(names), config.inputs)
                if maps is not None and idx[0] < maps.shape[0]:
                    keep = [j for j, i in enumerate(idx) if i < maps.shape[0]]
                    kept = [idx[j] for j in keep]
                    maps.write(kept, mid_maps(denoiser, x[keep], kept, manifest["maps"]["sigma"], config.seed).cpu().numpy())
            rows = {name: m.cpu().numpy() for name, m in means.items()}
            draws_done += len(idx) * sum(1 if s == 0 else config.draws for s in config.sigmas)
            for name, f in files.items():
                f.write(idx, rows[name])
                f.sync()
            if maps is not None:
                maps.sync()
            done.write(idx, np.ones(len(idx), np.uint8))
            done.sync()
            bar.update(task, advance=len(idx))
    seconds = time.perf_counter() - start
    for f in [*files.values(), done, maps]:
        if f is not None:
            f.close()
    if world > 1:
        dist.barrier()
    return {"images": len(todo), "forward_passes": draws_done, "seconds": seconds,
            "images_x_draws_per_s": draws_done / seconds if seconds > 0 else float("nan"), "config": asdict(config)}


def mid_maps(denoiser: Denoiser, x: torch.Tensor, ids: list[int], sigma: float, seed: int) -> torch.Tensor:
    """a_mid(x + σz) before the spatial mean, with z the first of the draws that φ averages over."""
    z = rng.image_noise(x.shape[1:], seed, ids, draw=0, device=x.device).to(x.dtype)
    return denoiser.blocks(x + sigma * z, ("mid",))["mid"]


def maps_shape(denoiser: Denoiser, probe: torch.Tensor) -> tuple[int, int]:
    with torch.no_grad():
        return tuple(denoiser.blocks(probe.to(denoiser.device), ("mid",))["mid"].shape[-2:])
