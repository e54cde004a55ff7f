"""Self-guided reconstruction (the paper's Alg. 1–2): before each score step, move the sample until its φ matches
the target's φ at the sample's current noise level, back-propagating through the encoder and middle block only."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch

from ..denoiser import Denoiser
from ..errors import ConfigError
from ..represent.extract import noise_averaged_means


@dataclass(frozen=True)
class GuidanceConfig:
    """Matching stops per image when its loss falls to `tolerance` × its first value, or after `max_iters` steps.
    Each step is y ← y − η·(L/‖∇L‖²)·∇L (a Polyak-normalised gradient step, scale-free in φ)."""

    eta: float = 0.5
    tolerance: float = 0.05
    max_iters: int = 20

    def __post_init__(self) -> None:
        if not (math.isfinite(self.eta) and 0 < self.eta <= 1):
            raise ConfigError(f"eta must lie in (0, 1], got {self.eta}")
        if not 0 < self.tolerance < 1:
            raise ConfigError(f"tolerance must lie in (0, 1), got {self.tolerance}")
        if self.max_iters < 1:
            raise ConfigError(f"max_iters must be at least 1, got {self.max_iters}")


@dataclass(frozen=True)
class PhiTarget:
    """Target φ as a function of σ, per target: φ on a σ grid (T×S×C), interpolated linearly in σ (clamped at the ends)."""

    sigmas: torch.Tensor  # S, ascending
    table: torch.Tensor  # T×S×C

    def __call__(self, sigma: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        s = sigma.to(self.sigmas).clamp(self.sigmas[0], self.sigmas[-1])
        hi = torch.searchsorted(self.sigmas, s).clamp(1, len(self.sigmas) - 1)
        lo = hi - 1
        w = ((s - self.sigmas[lo]) / (self.sigmas[hi] - self.sigmas[lo])).unsqueeze(1)
        t = self.table[rows.to(self.table.device)]
        pick = lambda i: t.gather(1, i.view(-1, 1, 1).expand(-1, 1, t.shape[2])).squeeze(1)  # noqa: E731
        return (1 - w) * pick(lo) + w * pick(hi)

    def interpolate(self, other: "PhiTarget", alpha: float) -> "PhiTarget":
        """(1 − α)·self + α·other, σ by σ."""
        return PhiTarget(self.sigmas, (1 - alpha) * self.table + alpha * other.table)

    def masked(self, channels: list[int]) -> "PhiTarget":
        """The same target with some channels silenced (their φ set to zero at every σ)."""
        table = self.table.clone()
        table[..., channels] = 0
        return PhiTarget(self.sigmas, table)


def target_from_images(denoiser: Denoiser, x: torch.Tensor, ids: list[int], sigmas: tuple[float, ...], draws: int, seed: int) -> PhiTarget:
    """φ(x, σ) = E_z ā_mid(x + σz) of target images on a σ grid (the representation stage's own estimator)."""
    with torch.no_grad():
        table = noise_averaged_means(denoiser, x.to(denoiser.device), ids, sigmas, draws, seed)["mid"]
    return PhiTarget(torch.tensor(sigmas, dtype=table.dtype, device=table.device), table)


def target_from_rep(sigmas: np.ndarray, phi: np.ndarray, device: torch.device | str = "cpu") -> PhiTarget:
    """A target from saved φ's (e.g. a cluster centroid over σ): phi is T×S×C on the REP's σ list."""
    return PhiTarget(torch.tensor(sigmas, dtype=torch.float32, device=device), torch.tensor(np.asarray(phi), dtype=torch.float32, device=device))


def target_from_clusters(sigmas: np.ndarray, means: np.ndarray, assignment: np.ndarray, clusters: list[int], device: torch.device | str = "cpu") -> PhiTarget:
    """The centroid over σ (mean of the members' saved φ, means N×S×C) of each listed cluster, as targets."""
    centroids = [np.asarray(means[np.flatnonzero(assignment == c)]).mean(0) for c in clusters]
    return target_from_rep(sigmas, np.stack(centroids), device)


@dataclass
class MatchLog:
    """Per guidance call: image ids, σ̂ before matching, first and last loss, iterations taken."""

    ids: list[np.ndarray] = field(default_factory=list)
    sigma_before: list[np.ndarray] = field(default_factory=list)
    first: list[np.ndarray] = field(default_factory=list)
    last: list[np.ndarray] = field(default_factory=list)
    iters: list[int] = field(default_factory=list)


class PhiMatching:
    """The guidance step the engine calls: y, σ̂, ids → y with φ(y) ≈ target(σ̂) (Alg. 2)."""

    def __init__(self, denoiser: Denoiser, target: PhiTarget, config: GuidanceConfig = GuidanceConfig(), rows: torch.Tensor | None = None):
        self.denoiser, self.target, self.config = denoiser, target, config
        self.rows = rows  # target row of each sample id (default: the id itself)
        self.log = MatchLog()

    def loss(self, y: torch.Tensor, phi_target: torch.Tensor) -> torch.Tensor:
        return (self.denoiser.phi(y) - phi_target).square().sum(1)

    def __call__(self, y: torch.Tensor, sigma: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
        rows = ids if self.rows is None else self.rows.to(ids.device)[ids]
        phi_target = self.target(sigma, rows).to(y)
        y = y.detach().clone()
        first = torch.zeros(len(y), dtype=y.dtype, device=y.device)
        last = first.clone()
        moving = torch.arange(len(y), device=y.device)  # images still above tolerance: only they are computed
        it = 0
        for it in range(1, self.config.max_iters + 1):
            with torch.enable_grad():
                part = y[moving].requires_grad_(True)
                loss = self.loss(part, phi_target[moving])
                (grad,) = torch.autograd.grad(loss.sum(), part)
            loss = loss.detach()
            if it == 1:
                first = loss.clone()
            last[moving] = loss
            keep = loss > self.config.tolerance * first[moving]
            if not keep.any():
                break
            moving, loss, grad = moving[keep], loss[keep], grad[keep]
            scale = self.config.eta * loss / grad.flatten(1).square().sum(1).clamp_min(1e-30)
            y[moving] = y[moving] - scale.view(-1, *[1] * (y.ndim - 1)) * grad
        self.log.ids.append(ids.cpu().numpy())
        self.log.sigma_before.append(sigma.detach().cpu().numpy())
        self.log.first.append(first.cpu().numpy())
        self.log.last.append(last.cpu().numpy())
        self.log.iters.append(it)
        return y
