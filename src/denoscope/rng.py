"""Randomness keyed by what it belongs to — (seed, epoch, image, draw) — so no result depends on batch size,
process count or device, and the noise is generated on the device that uses it.

A counter-based generator: every value is a hash of its key and its element index (splitmix64's finaliser),
turned into N(0, 1) by Box–Muller. Integer arithmetic wraps in int64, so the bits are the same on every device.

Choices that are not noise (subsets, pairs, K-means and t-SNE starts, probes, operators) take one numpy generator per
(seed, purpose) from `generator`; every purpose is named in PURPOSES, so no two uses of one seed share a stream.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

GOLDEN = -7046029254386353131  # 0x9E3779B97F4A7C15 as int64
M1 = -4658895280553007687  # 0xBF58476D1CE4E5B9
M2 = -7723592293110705685  # 0x94D049BB133111EB
STREAMS = {"noise": 1, "sigma": 2, "uniform": 3}
PURPOSES = {
    "subset": 1,  # --max-images: the images a REP, its analysis and the explorer share
    "holdout": 2,  # training's held-out images
    "queries": 3,  # analyse's neighbour queries
    "targets": 4,  # inverse problems' images
    "pairs": 5,  # the distance's image pairs
    "baselines": 6,  # random images that reconstructions are held against
    "probe-images": 7,  # labelled training images of the reconstruction's class probe
    "kmeans": 8,
    "tsne": 9,
    "probe": 10,  # logistic regressions, stratified splits, bootstrap intervals
    "mixture": 11,  # the selectivity mixture fit
    "operator": 12,  # random masks and measurement matrices
    "mean-image": 13,  # the images the start of reverse diffusion is the mean of
    "disjoint-subsets": 14,  # generalize's held-out images and its two disjoint training sets per N
    "null": 15,  # the channel-shuffled φ that K-means clusters are held against
    "models": 16,  # the training seeds of generalize's two models per N
    "train-sample": 17,  # the training images generalize measures the train PSNR on (a set is sorted by index: by class)
}
NOISE_USES = {  # key parts that keep apart the noise one seed draws for different uses: key(seed, NOISE_USES[use], …, image, draw)
    "target-phi": 1,  # φ of a reconstruction's or a distance's target images
    "phi-error": 2,  # φ of the samples, to measure how well they match their target
    "assess-phi": 3,  # φ of the sets a reconstruction is held against (one more part: the set)
    "score-gap": 4,  # the noise a distance's score gap is taken at (one more part: the σ level)
}


def _shr(x: torch.Tensor, k: int) -> torch.Tensor:
    """Logical right shift of int64 bit patterns."""
    return (x >> k) & ((1 << (64 - k)) - 1)


def mix(x: torch.Tensor) -> torch.Tensor:
    """splitmix64's finaliser: a bijection on 64-bit patterns that scrambles every bit."""
    x = (x ^ _shr(x, 30)) * M1
    x = (x ^ _shr(x, 27)) * M2
    return x ^ _shr(x, 31)


def key(seed: int, *parts: int | torch.Tensor, device: torch.device | str | None = None) -> torch.Tensor:
    """One 64-bit key per element of the broadcast `parts` (ints or integer tensors), chained after `seed`; on
    `device`, else on the device of the first tensor part (the CPU when there is none)."""
    if device is None:
        device = next((p.device for p in parts if isinstance(p, torch.Tensor)), None)
    h = mix(torch.tensor(int(seed) & ((1 << 63) - 1), dtype=torch.int64, device=device) + GOLDEN)
    for p in parts:
        p = torch.as_tensor(p, dtype=torch.int64, device=h.device)
        h = mix(mix(h) + mix(p + GOLDEN) + GOLDEN)  # mix(h) first: the chain is not symmetric in its parts
    return h


def _bits(keys: torch.Tensor, shape: Sequence[int], stream: str) -> torch.Tensor:
    n = 1
    for s in shape:
        n *= int(s)
    counter = torch.arange(n, dtype=torch.int64, device=keys.device) * 2 + STREAMS[stream] * (1 << 40)
    return mix(mix(keys.reshape(-1, 1) + GOLDEN) + mix(counter + GOLDEN)).reshape(*keys.shape, *shape)


def uniform(keys: torch.Tensor, shape: Sequence[int] = (), stream: str = "uniform", dtype=torch.float32) -> torch.Tensor:
    """U(0, 1) (never 0 or 1), one array of `shape` per key, 24 bits of resolution."""
    return ((_shr(_bits(keys, shape, stream), 40).to(dtype) + 0.5) / (1 << 24)).to(dtype)


def normal(keys: torch.Tensor, shape: Sequence[int] = (), stream: str = "noise", dtype=torch.float32) -> torch.Tensor:
    """N(0, 1), one array of `shape` per key: Box–Muller on two 24-bit uniforms taken from one 64-bit hash."""
    bits = _bits(keys, shape, stream)
    u1 = (_shr(bits, 40).float() + 0.5) / (1 << 24)
    u2 = (((bits >> 16) & 0xFFFFFF).float() + 0.5) / (1 << 24)
    return (torch.sqrt(-2.0 * torch.log(u1)) * torch.cos(2 * torch.pi * u2)).to(dtype)


def image_noise(shape: Sequence[int], seed: int, images: torch.Tensor | Sequence[int], draw: int = 0,
                device: torch.device | str | None = None) -> torch.Tensor:
    """N(0, 1) noise of shape len(images)×shape, image i's from the key (seed, i, draw) alone."""
    images = torch.as_tensor(images, dtype=torch.int64, device=device)
    return normal(key(seed, images, draw, device=images.device), shape)


def generator(seed: int, purpose: str) -> np.random.Generator:
    """The numpy generator of one `purpose` (a name of PURPOSES) under `seed`."""
    return np.random.default_rng([PURPOSES[purpose], int(seed) & ((1 << 63) - 1)])


def seed_for(seed: int, purpose: str) -> int:
    """An integer seed of `purpose` under `seed`, for libraries that take one (scikit-learn, torch.Generator)."""
    return int(generator(seed, purpose).integers(1 << 31))


def choose(n: int, count: int, seed: int, purpose: str) -> np.ndarray:
    """A sorted choice of min(count, n) of range(n) without replacement: the one way denoscope picks a subset."""
    return np.sort(generator(seed, purpose).permutation(n)[:count])
