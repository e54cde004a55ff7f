"""The distance between two densities through their scores (eq. 4; Lyu 2012):
d²(p₁, p₂) = ∫ (E_p₁‖∇log p₁,σ − ∇log p₂,σ‖² + E_p₂‖…‖²) σ dσ, the symmetrised KL divergence.

With residuals f_k(y) = D_k(y) − y = σ²∇log p_k,σ(y), the integrand is E‖f₁ − f₂‖²/σ³; it is integrated on a
log-spaced σ grid (∫ g σ dσ = ∫ g σ² d log σ), so the estimate covers [σ_min, σ_max] and says so.
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np
import torch

from .. import rng
from ..errors import ConfigError

ConditionalResidual = Callable[[torch.Tensor, float], torch.Tensor]  # (y, σ) → D(y | φ) − y


def sigma_grid(sigma_min: float, sigma_max: float, levels: int) -> np.ndarray:
    if not 0 < sigma_min < sigma_max or levels < 2:
        raise ConfigError(f"the σ grid needs 0 < σ_min < σ_max and at least 2 levels; got {sigma_min}, {sigma_max}, {levels}")
    return np.geomspace(sigma_min, sigma_max, levels)


def score_gap(f1: ConditionalResidual, f2: ConditionalResidual, x: torch.Tensor, sigma: float, seed: int, level: int = 0,
              offset: int = 0) -> float:
    """E_x,z ‖∇log p₁,σ − ∇log p₂,σ‖² at y = x + σz, with samples x of one of the densities (z keyed by the σ level
    and the sample)."""
    ids = torch.arange(offset, offset + len(x), device=x.device)
    z = rng.normal(rng.key(seed, rng.NOISE_USES["score-gap"], level, ids), x.shape[1:]).to(x.dtype)
    y = x + sigma * z
    gap = (f1(y, sigma) - f2(y, sigma)).flatten(1).square().sum(1) / sigma**4
    return float(gap.mean())


def density_distance(
    f1: ConditionalResidual, f2: ConditionalResidual, x1: torch.Tensor, x2: torch.Tensor, sigmas: np.ndarray, seed: int = 0,
) -> dict:
    """d²(p₁, p₂) from samples x1 ~ p₁ and x2 ~ p₂ and the two conditional residuals, by quadrature over `sigmas`.

    Returns d2, the two one-sided terms (each a KL divergence in the limit of a complete σ range), and the
    integrands per σ, so a figure can show where the distance comes from.
    """
    gaps1 = np.array([score_gap(f1, f2, x1, float(s), seed, level, 0) for level, s in enumerate(sigmas)])
    gaps2 = np.array([score_gap(f1, f2, x2, float(s), seed, level, len(x1)) for level, s in enumerate(sigmas)])
    log_s = np.log(sigmas)
    kl12 = float(np.trapezoid(gaps1 * sigmas**2, log_s))
    kl21 = float(np.trapezoid(gaps2 * sigmas**2, log_s))
    return {"d2": kl12 + kl21, "kl_12": kl12, "kl_21": kl21, "sigmas": sigmas, "integrand_1": gaps1 * sigmas, "integrand_2": gaps2 * sigmas}


def gaussian_symmetric_kl(mean1: torch.Tensor, cov1: torch.Tensor, mean2: torch.Tensor, cov2: torch.Tensor) -> float:
    """KL(N₁‖N₂) + KL(N₂‖N₁) in closed form: ½ tr(C₂⁻¹C₁ + C₁⁻¹C₂ − 2I) + ½ Δμᵀ(C₁⁻¹ + C₂⁻¹)Δμ."""
    n = len(mean1)
    i1, i2 = torch.linalg.inv(cov1), torch.linalg.inv(cov2)
    dm = (mean1 - mean2).reshape(-1, 1)
    trace = torch.trace(i2 @ cov1 + i1 @ cov2) - 2 * n
    return float(0.5 * trace + 0.5 * (dm.T @ (i1 + i2) @ dm).squeeze())


def euclidean_embedding(phi_dist2: np.ndarray, d2: np.ndarray) -> dict:
    """Eq. 3: the tightest A ≤ d²/‖φ₁ − φ₂‖² ≤ B over the pairs, B/A, and the correlation of the two distances."""
    phi_dist2, d2 = np.asarray(phi_dist2, float), np.asarray(d2, float)
    ok = (phi_dist2 > 0) & np.isfinite(d2)
    if ok.sum() < 2:
        raise ConfigError("the Euclidean embedding needs at least two pairs with distinct φ and a finite distance")
    ratio = d2[ok] / phi_dist2[ok]
    a, b = float(ratio.min()), float(ratio.max())
    return {"A": a, "B": b, "B_over_A": b / a if a > 0 else math.inf, "pairs": int(ok.sum()),
            "pearson": float(np.corrcoef(phi_dist2[ok], d2[ok])[0, 1])}
