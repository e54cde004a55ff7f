"""What the sampling stages start from, chosen by the library so that a notebook and the CLI choose alike: the mean
image, the σ list of a target φ, the images and pairs, a REP's K-means centroid targets, and the baselines."""

from __future__ import annotations

import itertools
import math
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .. import rng
from ..analysis.clusters import kmeans
from ..checkpoint import file_hash
from ..config import TrainConfig
from ..data import ImageSet, Transform, open_source, stack_images
from ..data.dataset import mean_image
from ..denoiser import Denoiser
from ..errors import ConfigError, DataError, Note
from ..representation import Representation, default_sigmas
from ..training import training_config
from .guidance import PhiTarget, target_from_clusters


def trained_on(d: Denoiser) -> TrainConfig | None:
    """The training configuration of the run `d` was loaded from (None for stand-alone weights or a network in memory)."""
    return training_config(d.source) if d.source is not None else None


def target_sigmas(d: Denoiser) -> tuple[float, ...]:
    """The σ list a target φ is computed over: the authors' list clipped to the trained σ_max (1 when unknown)."""
    trained = trained_on(d)
    return default_sigmas(trained.sigma_max if trained else 1.0)[0]


def start_image(d: Denoiser, mean: torch.Tensor | str | None = None, size: tuple[int, int] | None = None) -> tuple[torch.Tensor, str]:
    """The C×H×W image reverse diffusion starts around, and where it came from: `mean` itself, the mean image of a source
    `mean`, or (None) of the training data of `d`'s run; flat gray of `size` when no images can be read, else an error."""
    if isinstance(mean, torch.Tensor):
        return mean, "the given mean image"
    trained = trained_on(d)
    source = mean if mean is not None else (trained.data if trained else None)
    size = size or ((trained.image_size,) * 2 if trained and trained.image_size else None)
    return mean_of(source, d.config.channels, size)


def mean_of(source: str | None, channels: int, size: tuple[int, int] | None) -> tuple[torch.Tensor, str]:
    """The mean image of `source`, else flat gray of `size`, else a DataError that asks for one."""
    if source is not None:
        try:
            images = open_images(source, channels)
            transform = Transform(size=size[0], mode="center-crop") if size else Transform()
            return mean_image(images, transform), f"the mean of up to 1000 images of {source}"
        except DataError as e:
            reason = str(e)
    else:
        reason = "no training data recorded"
    if size is None:
        raise DataError(f"cannot find a mean image to start from ({reason}); give a source (mean=, --mean-from) or the image size")
    return torch.full((channels, *size), 0.5), f"flat gray ({reason})"


def open_images(images: ImageSet | str, channels: int) -> ImageSet:
    """An ImageSet as given, or a source opened with the denoiser's channels (its conversions said in notes)."""
    if not isinstance(images, str):
        return images
    opened = open_source(images, channels=channels)
    for note in opened.notes:
        warnings.warn(f"{opened.name}: {note}", Note)
    return opened


def open_given(*sources: ImageSet | str | None, channels: int) -> list[ImageSet | None]:
    """Every source the user named, opened (so checked) before any work, whether this run uses it or not; None stays None."""
    return [None if source is None else open_images(source, channels) for source in sources]


def check_count(name: str, value: int, low: int = 1) -> None:
    if value < low:
        raise ConfigError(f"{name} must be at least {low}, got {value}")


def check_sigma(name: str, value: float) -> None:
    if not (math.isfinite(value) and value >= 0):
        raise ConfigError(f"{name} must be a finite noise level ≥ 0, got {value}")


def check_indices(images: ImageSet, indices: list[int]) -> None:
    bad = [i for i in indices if not 0 <= i < len(images)]
    if bad:
        raise ConfigError(f"index {bad[0]} is outside {images.name}, which holds {len(images)} images")


def choose_images(images: ImageSet, n: int, seed: int) -> list[int]:
    """A seeded choice of n images of the source (the inverse problems' targets), in their order; all of them, said in a
    note, when the source holds fewer."""
    if n > len(images):
        warnings.warn(f"n = {n} is more than the {len(images)} images of {images.name}: all {len(images)} are used", Note)
    return rng.choose(len(images), n, seed, "targets").tolist()


def choose_pairs(images: ImageSet, count: int, seed: int) -> list[tuple[int, int]]:
    """`count` seeded random pairs of distinct images; every distinct pair once, said in a note, when the source has fewer."""
    if len(images) < 2:
        raise ConfigError(f"{images.name} holds {len(images)} image; pairs need at least two")
    check_count("pairs", count)
    distinct = math.comb(len(images), 2)
    if count > distinct:
        warnings.warn(f"pairs = {count} is more than the {distinct} distinct pairs of the {len(images)} images of {images.name}: "
                      f"each of the {distinct} is used once", Note)
        return list(itertools.combinations(range(len(images)), 2))
    g = rng.generator(seed, "pairs")
    return [tuple(int(i) for i in g.choice(len(images), 2, replace=False)) for _ in range(count)]


def cluster_targets(d: Denoiser, rep: Representation | str | Path, clusters: list[int], k: int, phi_sigma: float,
                    seed: int) -> tuple[PhiTarget, list[dict]]:
    """The centroid over σ of each listed K-means cluster of a REP's φ at `phi_sigma` (the REP must be of `d`'s
    weights), and the names of the targets."""
    r = rep if isinstance(rep, Representation) else Representation(rep)
    r.check_complete()
    if d.source is not None:
        r.check_model(file_hash(d.source), str(d.source))
    assignment, _ = kmeans(r.phi(phi_sigma), k, seed)
    bad = [c for c in clusters if not 0 <= c < k]
    if bad:
        raise ConfigError(f"cluster must lie in 0 … {k - 1}, got {bad[0]}")
    target = target_from_clusters(r.sigmas, r.means("mid"), assignment, clusters, d.device)
    names = [{"label": f"cluster {c} of {k} ({int((assignment == c).sum())} images) in {r.path}", "rep": str(r.path), "k": k, "cluster": c}
             for c in clusters]
    return target, names


@dataclass
class Baselines:
    """What reconstructions are held against: random images of the targets' source, unguided samples from the same
    starts, and labelled training images for a class probe; φ of every set at `sigma` over `draws` noise draws."""

    random: torch.Tensor
    unguided: int
    target_labels: np.ndarray | None = None
    random_labels: np.ndarray | None = None
    train: torch.Tensor | None = None
    train_labels: np.ndarray | None = None
    sigma: float = 0.2
    draws: int = 8


def reconstruction_baselines(images: ImageSet, index: list[int], count: int, probe_data: ImageSet | str | None, probe_images: int,
                             sigma: float, draws: int, seed: int, channels: int) -> Baselines:
    """Random images of the targets' source (not the targets), labels where the source has them, and a probe's training set."""
    others = np.setdiff1d(np.arange(len(images)), index)
    chosen = np.sort(rng.generator(seed, "baselines").permutation(others)[:count])
    labels = images.labels
    train = train_labels = None
    if probe_data is not None and labels is not None:
        source = open_images(probe_data, channels)
        if source.labels is not None:
            pick = rng.choose(len(source), probe_images, seed, "probe-images")
            train, train_labels = stack_images(source, pick, Transform()), source.labels[pick]
    return Baselines(stack_images(images, chosen, Transform()), count, None if labels is None else labels[np.asarray(index)],
                     None if labels is None else labels[chosen], train, train_labels, sigma, draws)
