"""Adaptive blind reverse diffusion (Kadkhodaie & Simoncelli 2021): a pure function of (denoiser, start, seed).

Per image: d = D(y) − y (∝ σ²·score), σ̂ = ‖d‖/√N, h_t = h₀t/(1 + h₀(t−1)) (or fixed),
γ² = ((1 − βh)² − (1 − h)²)·σ̂², y ← y + h·d + γ·z; an image stops when σ̂ < σ_L. With a measurement x_c = Mᵀx the
step is d = (I − MMᵀ)(D(y) − y) + M(x_c − Mᵀy). A guidance step may move y before each score step.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Protocol

import numpy as np
import torch

from .. import rng
from ..errors import ConfigError


class Residual(Protocol):
    def residual(self, y: torch.Tensor) -> torch.Tensor: ...


class Measurement(Protocol):
    def measure(self, x: torch.Tensor) -> torch.Tensor: ...

    def adjoint(self, c: torch.Tensor) -> torch.Tensor: ...


Guidance = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]  # (y, σ̂, image ids) → y
Callback = Callable[[int, torch.Tensor, torch.Tensor, torch.Tensor], None]  # (t, image ids, y, σ̂)


@dataclass(frozen=True)
class DiffusionConfig:
    """The authors' settings: σ_L = 0.05, h₀ = 0.01, β = 0.01, at most 15 000 steps, from σ = 1 around the mean."""

    sigma_final: float = 0.05
    h0: float = 0.01
    beta: float = 0.01
    max_steps: int = 15000
    fixed_h: float | None = None
    sigma_start: float = 1.0
    diverge: float = 4.0

    def __post_init__(self) -> None:
        for name in ("sigma_final", "h0", "sigma_start", "diverge"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ConfigError(f"{name} must be a positive finite number, got {value}")
        if not 0 <= self.beta <= 1:
            raise ConfigError(f"beta must lie in [0, 1], got {self.beta}")
        if self.max_steps < 1:
            raise ConfigError(f"max_steps must be at least 1, got {self.max_steps}")
        if self.fixed_h is not None and not 0 < self.fixed_h <= 1:
            raise ConfigError(f"a fixed step h must lie in (0, 1], got {self.fixed_h}")


def step_size(t: int, config: DiffusionConfig) -> float:
    """h_t = h₀t / (1 + h₀(t − 1)): small steps while the noise is large, approaching 1 as it vanishes."""
    return config.fixed_h if config.fixed_h is not None else config.h0 * t / (1 + config.h0 * (t - 1))


@dataclass
class Samples:
    """What a reverse diffusion returns: per image its last y, D(last y), σ̂ at every step, steps taken and status."""

    samples: torch.Tensor
    final: torch.Tensor
    sigma: np.ndarray  # N×T, NaN after an image stopped
    steps: np.ndarray
    status: list[str]  # "converged", "max_steps" or "diverged"
    evaluations: int  # network evaluations, summed over images

    @property
    def converged(self) -> np.ndarray:
        return np.array([s == "converged" for s in self.status])


def start_from(mean: torch.Tensor, n: int, seed: int, sigma: float = 1.0) -> torch.Tensor:
    """y₀ = mean + σ·z, image i's z keyed by (seed, i, step 0)."""
    z = rng.normal(rng.key(seed, torch.arange(n, device=mean.device), 0), mean.shape)
    return mean.expand(n, *mean.shape) + sigma * z


def residual_step(denoiser: Residual, y: torch.Tensor, operator: Measurement | None, x_c: torch.Tensor | None) -> torch.Tensor:
    """d: D(y) − y, or with a measurement its part outside the measured subspace plus the pull towards x_c."""
    d = denoiser.residual(y)
    if operator is None:
        return d
    return d - operator.adjoint(operator.measure(d)) + operator.adjoint(x_c - operator.measure(y))


def noise_level(d: torch.Tensor) -> torch.Tensor:
    """σ̂ = ‖d‖/√N per image."""
    return d.flatten(1).norm(dim=1) / math.sqrt(d[0].numel())


def reverse_diffusion(
    denoiser: Residual,
    start: torch.Tensor,
    seed: int,
    config: DiffusionConfig = DiffusionConfig(),
    ids: torch.Tensor | None = None,
    operator: Measurement | None = None,
    measurement: torch.Tensor | None = None,
    guidance: Guidance | None = None,
    callback: Callback | None = None,
) -> Samples:
    """Run every image of `start` until σ̂ < σ_L (finished images leave the batch); noise keyed by (seed, id, step)."""
    n = len(start)
    ids = torch.arange(n, device=start.device) if ids is None else ids.to(start.device)
    y = start.clone()
    if operator is not None:
        if measurement is None or len(measurement) != n:
            raise ConfigError("a measurement operator needs one measurement x_c per image")
        y = y - operator.adjoint(operator.measure(y)) + operator.adjoint(measurement)
    final, samples = y.clone(), y.clone()
    trace = np.full((n, config.max_steps + 1), np.nan)
    steps = np.zeros(n, dtype=np.int64)
    status = ["max_steps"] * n
    live = torch.arange(n, device=start.device)
    evaluations = 0
    first: torch.Tensor | None = None
    for t in range(1, config.max_steps + 2):
        x_c = measurement[live] if measurement is not None else None
        if guidance is not None:
            d = residual_step(denoiser, y, operator, x_c)
            evaluations += len(live)
            y = guidance(y, noise_level(d), ids[live])
        d = residual_step(denoiser, y, operator, x_c)
        evaluations += len(live)
        sigma = noise_level(d)
        first = sigma.clone() if first is None else first
        trace[live.cpu().numpy(), t - 1] = sigma.double().cpu().numpy()
        if callback is not None:
            callback(t, ids[live], y, sigma)
        done = sigma < config.sigma_final
        diverged = sigma > config.diverge * first
        out_of_steps = torch.full_like(done, t > config.max_steps)
        stop = done | diverged | out_of_steps
        if stop.any():
            rows = live[stop]
            final[rows] = y[stop]
            samples[rows] = y[stop] + d[stop]  # D(y): one last denoising step
            for r, ok, bad in zip(rows.tolist(), done[stop].tolist(), diverged[stop].tolist()):
                status[r] = "converged" if ok else "diverged" if bad else "max_steps"
                steps[r] = t - 1
            keep = ~stop
            live, y, d, sigma, first = live[keep], y[keep], d[keep], sigma[keep], first[keep]
            if len(live) == 0:
                break
        h = step_size(t, config)
        gamma = sigma * math.sqrt(max((1 - config.beta * h) ** 2 - (1 - h) ** 2, 0.0))
        z = rng.normal(rng.key(seed, ids[live], t), y.shape[1:]).to(y.dtype)
        y = y + h * d + gamma.view(-1, *[1] * (y.ndim - 1)) * z
    return Samples(samples, final, trace[:, : int(steps.max()) + 1], steps, status, evaluations)
