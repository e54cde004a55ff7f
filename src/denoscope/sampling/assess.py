"""Whether a reconstruction from φ worked: how close its samples come to the target, each measure beside what
unguided samples (the same sampler without φ) and random images score. Numbers in, numbers out; nothing drawn.

A measure maps (images, their φ, one target, its φ) to one value per image. For each target, `guided` is the mean
over its own samples; `unguided` and `random` the mean over the shared pools. A reconstruction works where guided
beats both: its samples are closer to their target than chance is.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

from .. import rng
from ..errors import ConfigError
from ..metrics import psnr

BLUR = 8  # block side of the heavy blur: a 32×32 image becomes 4×4 (colour and layout, no detail)
BINS = 4  # colour histogram bins per channel (64 colours)
GROUPS = ("guided", "unguided", "random")


@dataclass
class Images:
    """A set of N×C×H×W images in [0, 1], their φ (N×C_mid) and, where known, their class labels."""

    x: torch.Tensor
    phi: torch.Tensor
    labels: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.x)

    def take(self, rows: slice | np.ndarray) -> "Images":
        return Images(self.x[rows], self.phi[rows], None if self.labels is None else self.labels[rows])


def relative_phi_distance(phi: torch.Tensor, phi_target: torch.Tensor) -> np.ndarray:
    """‖φ − φ_target‖ / ‖φ_target‖ per image: the quantity φ matching drives down."""
    return ((phi - phi_target).norm(dim=-1) / phi_target.norm(dim=-1).clamp_min(1e-12)).cpu().numpy()


def blurred_psnr(x: torch.Tensor, target: torch.Tensor, block: int = BLUR) -> np.ndarray:
    """PSNR of block-averaged versions (colour and layout at 1/block resolution) of each image against the target."""
    a, b = F.avg_pool2d(x, block), F.avg_pool2d(target.expand_as(x), block)
    return psnr(a, b).cpu().numpy()


def colour_histograms(x: torch.Tensor, bins: int = BINS) -> np.ndarray:
    """Joint RGB histogram (bins³ colours, summing to 1) of each image: its palette, wherever the colours lie."""
    q = (x.clamp(0, 1) * bins).long().clamp_max(bins - 1)
    code = sum(q[:, c] * bins**c for c in range(q.shape[1])).flatten(1)
    counts = F.one_hot(code, bins ** q.shape[1]).sum(1).double()
    return (counts / code.shape[1]).cpu().numpy()


def histogram_distance(x: torch.Tensor, target: torch.Tensor, bins: int = BINS) -> np.ndarray:
    """Total variation ½Σ|h − h_target| between colour histograms, in [0, 1]: the share of pixels whose colour must change."""
    return 0.5 * np.abs(colour_histograms(x, bins) - colour_histograms(target[None], bins)).sum(1)


def rms_distance(x: torch.Tensor, y: torch.Tensor) -> np.ndarray:
    """Root-mean-square pixel difference between every image of x and every image of y (len(x)×len(y))."""
    return (torch.cdist(x.flatten(1).double(), y.flatten(1).double()) / x[0].numel() ** 0.5).cpu().numpy()


def mean_pairwise_rms(x: torch.Tensor) -> float:
    """Mean RMS distance over distinct pairs: how much a set's images differ from each other."""
    if len(x) < 2:
        return float("nan")
    d = rms_distance(x, x)
    return float(d[np.triu_indices(len(x), 1)].mean())


def fit_probe(phi: np.ndarray, labels: np.ndarray, seed: int = 0) -> Pipeline:
    """A linear probe (logistic regression on standardised φ) trained on labelled images: reads a class off a φ."""
    if len(np.unique(labels)) < 2:
        raise ConfigError("a class probe needs training images of at least two classes")
    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, random_state=rng.seed_for(seed, "probe"))).fit(phi, labels)


def per_image_measures(images: Images, target: Images, probe: Pipeline | None) -> dict[str, np.ndarray]:
    """Every measure of each image against one target (target is a one-image set)."""
    out = {"phi_distance": relative_phi_distance(images.phi, target.phi[0]),
           "blurred_psnr": blurred_psnr(images.x, target.x[0]),
           "colour_histogram_distance": histogram_distance(images.x, target.x[0]),
           "rms_to_target": rms_distance(images.x, target.x)[:, 0]}
    if probe is not None and target.labels is not None:
        out["class_agreement"] = (probe.predict(images.phi.cpu().numpy()) == target.labels[0]).astype(float)
    return out


HIGHER_IS_CLOSER = {"phi_distance": False, "blurred_psnr": True, "colour_histogram_distance": False,
                    "rms_to_target": False, "class_agreement": True}


def closer(a: np.ndarray, b: np.ndarray, measure: str) -> np.ndarray:
    return a > b if HIGHER_IS_CLOSER[measure] else a < b


def assess(targets: Images, guided: Images, per_target: int, unguided: Images, random: Images,
           probe: Pipeline | None = None, train: torch.Tensor | None = None) -> dict:
    """Every measure per target for its guided samples (rows t·per_target …), the unguided pool and random images,
    with medians over targets and the share of targets whose samples beat both baselines; then the spread: samples
    should differ from each other (pairwise RMS beside the pools') and not copy the target (RMS to the target beside
    RMS to the nearest of `train`, training images, when given)."""
    if len(guided) != len(targets) * per_target:
        raise ConfigError(f"{len(guided)} guided samples for {len(targets)} targets × {per_target}")
    values: dict[str, dict[str, list[float]]] = {}
    for t in range(len(targets)):
        target = targets.take(slice(t, t + 1))
        own = guided.take(slice(t * per_target, (t + 1) * per_target))
        for group, images in zip(GROUPS, (own, unguided, random)):
            for name, v in per_image_measures(images, target, probe).items():
                values.setdefault(name, {g: [] for g in GROUPS})[group].append(float(np.mean(v)))
    measures = {name: summary(name, groups) for name, groups in values.items()}
    return {"targets": len(targets), "per_target": per_target, "unguided": len(unguided), "random": len(random),
            "measures": measures, "spread": spread(targets, guided, per_target, unguided, random, train)}


def summary(name: str, groups: dict[str, list[float]]) -> dict:
    """Per-target values of the three groups, their medians, and how often guided is closer than each baseline."""
    g, u, r = (np.array(groups[k]) for k in GROUPS)
    return {"higher_is_closer": HIGHER_IS_CLOSER[name], **{k: groups[k] for k in GROUPS},
            "median": {k: float(np.median(groups[k])) for k in GROUPS},
            "guided_closer_than_unguided": float(closer(g, u, name).mean()),
            "guided_closer_than_random": float(closer(g, r, name).mean()),
            "guided_closer_than_both": float((closer(g, u, name) & closer(g, r, name)).mean())}


def spread(targets: Images, guided: Images, per_target: int, unguided: Images, random: Images, train: torch.Tensor | None) -> dict:
    """Diversity of each target's samples beside the pools', and copying: distance to the target vs to training images."""
    within = [mean_pairwise_rms(guided.x[t * per_target : (t + 1) * per_target]) for t in range(len(targets))]
    out = {"samples_pairwise_rms": within, "samples_pairwise_rms_median": float(np.nanmedian(within)) if per_target > 1 else None,
           "unguided_pairwise_rms": mean_pairwise_rms(unguided.x), "random_pairwise_rms": mean_pairwise_rms(random.x)}
    if train is not None:
        to_target = rms_distance(guided.x, targets.x)[np.arange(len(guided)), np.arange(len(guided)) // per_target]
        out |= {"rms_to_target": to_target.tolist(), "rms_to_nearest_train": rms_distance(guided.x, train).min(1).tolist(),
                "targets_rms_to_nearest_train": rms_distance(targets.x, train).min(1).tolist(),
                "random_rms_to_nearest_train_median": float(np.median(rms_distance(random.x, train).min(1)))}
    return out
