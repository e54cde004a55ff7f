"""Self-guided reconstruction (the paper's Alg. 1–2): before each score step, move the sample until its φ matches
the target's φ at the sample's current noise level, back-propagating through the encoder and middle block only."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch

from .. import rng
from ..denoiser import Denoiser
from ..errors import ConfigError


PHI_OF = ("sample", "estimate")
MAX_STEP = 2.0  # times the Polyak step L/‖∇L‖²: the exact minimiser along −∇L when φ is linear


@dataclass(frozen=True)
class GuidanceConfig:
    """Matching stops per image when ‖φ − φ_target‖ ≤ `tolerance`·‖φ_target‖, or after `max_iters` steps.

    Each step tries y ← y − s·(L/‖∇L‖²)·∇L (a Polyak-normalised gradient step, scale-free in φ), s starting at `eta`;
    a step that does not lower the loss is refused and s halved, an accepted one grows s by half (to at most 2, the
    exact step when φ is linear), so the loss never rises within a call. `phi_of` says whose φ is matched: "sample", the noisy sample's own ā(y) (Alg. 2
    as written), or "estimate", E_z ā(x̂ + σz) of the denoised estimate x̂ = D(y) over `draws` noise draws (the same
    noise-averaged estimator as the target's), its gradient applied to y."""

    eta: float = 0.5
    tolerance: float = 0.05
    max_iters: int = 20
    phi_of: str = "sample"
    draws: int = 4

    def __post_init__(self) -> None:
        if not (math.isfinite(self.eta) and 0 < self.eta <= MAX_STEP):
            raise ConfigError(f"eta must lie in (0, {MAX_STEP:g}], got {self.eta}")
        if not 0 < self.tolerance < 1:
            raise ConfigError(f"tolerance must lie in (0, 1), got {self.tolerance}")
        if self.max_iters < 1:
            raise ConfigError(f"max_iters must be at least 1, got {self.max_iters}")
        if self.phi_of not in PHI_OF:
            raise ConfigError(f"phi_of must be one of {', '.join(PHI_OF)}, got {self.phi_of!r}")
        if self.draws < 1:
            raise ConfigError(f"draws must be at least 1, got {self.draws}")


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


def target_from_images(denoiser: Denoiser, x: torch.Tensor, ids: list[int], sigmas: tuple[float, ...], draws: int, seed: int) -> PhiTarget:
    """φ(x, σ) = E_z ā_mid(x + σz) of target images on a σ grid (the representation stage's own estimator, d.phi)."""
    with torch.no_grad():
        table = denoiser.phi(x, sigmas, draws, seed, ids, use=(rng.NOISE_USES["target-phi"],))
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
    """Per guidance call and image: id, σ̂ before matching, relative error ‖φ − φ_target‖/‖φ_target‖ before and after,
    iterations taken (forward-backward passes through encoder and middle block, × draws for "estimate")."""

    ids: list[np.ndarray] = field(default_factory=list)
    sigma_before: list[np.ndarray] = field(default_factory=list)
    first: list[np.ndarray] = field(default_factory=list)
    last: list[np.ndarray] = field(default_factory=list)
    iters: list[np.ndarray] = field(default_factory=list)

    def record(self, ids: torch.Tensor, sigma: torch.Tensor, first: torch.Tensor, last: torch.Tensor, iters: torch.Tensor) -> None:
        for name, value in zip(("ids", "sigma_before", "first", "last", "iters"), (ids, sigma, first, last, iters)):
            getattr(self, name).append(value.detach().cpu().numpy())

    def summary(self, tolerance: float) -> dict:
        """What matching achieved over all calls: errors before and after, iterations, share within tolerance."""
        if not self.ids:
            return {"calls": 0}
        first, last, iters = (np.concatenate(v) for v in (self.first, self.last, self.iters))
        return {"calls": len(self.ids), "image_calls": int(len(first)), "tolerance": tolerance,
                "reached_tolerance": float(np.mean(last <= tolerance)),
                "error_before_median": float(np.median(first)), "error_after_median": float(np.median(last)),
                "error_after_p90": float(np.quantile(last, 0.9)), "lowered": float(np.mean(last < first)),
                "iterations_mean": float(iters.mean()), "iterations_total": int(iters.sum())}


class PhiMatching:
    """The guidance step the engine calls: y, σ̂, ids → y with φ ≈ target(σ̂) (Alg. 2), only y moved, weights untouched."""

    def __init__(self, denoiser: Denoiser, target: PhiTarget, config: GuidanceConfig = GuidanceConfig(),
                 rows: torch.Tensor | None = None, seed: int = 0):
        self.denoiser, self.target, self.config, self.seed = denoiser, target, config, seed
        self.rows = rows  # target row of each sample id (default: the id itself)
        self.log = MatchLog()

    def loss(self, y: torch.Tensor, phi_target: torch.Tensor, noise: torch.Tensor | None = None) -> torch.Tensor:
        """‖φ − φ_target‖² per image: φ = ā_mid(y), or with noise (B×K×…) the mean of ā_mid(y + noise_k) over k."""
        if noise is None:
            return (self.denoiser.mid_mean(y) - phi_target).square().sum(1)
        phi = self.denoiser.mid_mean((y[:, None] + noise).flatten(0, 1)).unflatten(0, noise.shape[:2]).mean(1)
        return (phi - phi_target).square().sum(1)

    def loss_and_grad(self, v: torch.Tensor, phi_target: torch.Tensor, noise: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        with torch.enable_grad():
            v = v.detach().requires_grad_(True)
            loss = self.loss(v, phi_target, noise)
            (grad,) = torch.autograd.grad(loss.sum(), v)
        return loss.detach(), grad

    def anchor(self, y: torch.Tensor, sigma: torch.Tensor, ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The point whose φ is matched and its noise draws: y itself, or D(y) with σ̂·z_k keyed by (seed, id, call, k)."""
        if self.config.phi_of == "sample":
            return y, None
        call = len(self.log.ids)
        k = torch.arange(self.config.draws, device=y.device)
        z = rng.normal(rng.key(self.seed, ids[:, None], call, k[None, :]), y.shape[1:]).to(y.dtype)
        with torch.no_grad():
            return self.denoiser(y), sigma.view(-1, *[1] * y.ndim).to(y.dtype) * z

    def __call__(self, y: torch.Tensor, sigma: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
        rows = ids if self.rows is None else self.rows.to(ids.device)[ids]
        want = self.target(sigma, rows).to(y)
        scale = want.norm(dim=1).clamp_min(1e-12)
        base, noise = self.anchor(y.detach(), sigma, ids)
        pick = (lambda i: None) if noise is None else (lambda i: noise[i])  # noqa: E731
        delta = torch.zeros_like(base)
        loss, grad = self.loss_and_grad(base, want, noise)
        first = loss.sqrt() / scale
        step = torch.full_like(loss, self.config.eta)
        iters = torch.zeros(len(y), dtype=torch.long, device=y.device)
        goal = (self.config.tolerance * scale).square()
        for _ in range(self.config.max_iters):
            i = (loss > goal).nonzero().squeeze(1)
            if len(i) == 0:
                break
            shape = (-1, *[1] * (y.ndim - 1))
            trial = delta[i] - (step[i] * loss[i] / grad[i].flatten(1).square().sum(1).clamp_min(1e-30)).view(shape) * grad[i]
            new_loss, new_grad = self.loss_and_grad(base[i] + trial, want[i], pick(i))
            ok = new_loss < loss[i]
            j = i[ok]
            delta[j], loss[j], grad[j] = trial[ok], new_loss[ok], new_grad[ok]
            step[i] = torch.where(ok, (step[i] * 1.5).clamp_max(MAX_STEP), step[i] * 0.5)
            iters[i] += 1
        self.log.record(ids, sigma, first, loss.sqrt() / scale, iters)
        return y.detach() + delta
