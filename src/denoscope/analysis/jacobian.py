"""The denoiser's adaptive basis (Kadkhodaie, Guth, Simoncelli & Mallat 2023): the Jacobian J = ∇D(y) at a noisy image.

A bias-free denoiser is locally linear, D(y) = J·y; it then acts as a shrinkage in the eigenbasis of J's symmetric part
(eigenvalues in [0, 1] that shrink as σ grows), and tr J is its effective dimensionality, with MSE ≈ σ²·tr J.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch

from .. import rng
from ..errors import ConfigError
from ..metrics import psnr
from ..results import StageResult

MAX_SIDE = 64


def jacobian(d: Callable[[torch.Tensor], torch.Tensor], y: torch.Tensor, rows_per_pass: int = 64) -> torch.Tensor:
    """J[i, j] = ∂D(y)_i/∂y_j of one image y (C×H×W), n×n with n = C·H·W, on y's device and in y's dtype: each pass
    sends `rows_per_pass` copies of y through D and pulls one basis vector back through each (batched VJPs)."""
    if y.ndim != 3 or max(y.shape[-2:]) > MAX_SIDE:
        raise ConfigError(f"the exact Jacobian needs one C×H×W image of side at most {MAX_SIDE}, got shape {tuple(y.shape)}")
    n = y.numel()
    rows = []
    with torch.enable_grad():
        for start in range(0, n, rows_per_pass):
            index = torch.arange(start, min(start + rows_per_pass, n), device=y.device)
            e = torch.nn.functional.one_hot(index, n).to(y.dtype)
            copies = y.detach().expand(len(e), *y.shape).clone().requires_grad_(True)
            (grad,) = torch.autograd.grad(d(copies), copies, grad_outputs=e.view(len(e), *y.shape))
            rows.append(grad.reshape(len(e), n))
    return torch.cat(rows)


def relative(a: torch.Tensor, b: torch.Tensor) -> float:
    """‖a‖/‖b‖ (Frobenius)."""
    return float(a.norm() / b.norm().clamp_min(torch.finfo(b.dtype).tiny))


def shrinkage_basis(j: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Eigenvalues (descending) and eigenvectors (columns) of the symmetric part (J + Jᵀ)/2, in float64."""
    j = j.double()
    values, vectors = torch.linalg.eigh((j + j.T) / 2)
    return values.flip(0), vectors.flip(1)


def at_sigma(d, x: torch.Tensor, z: torch.Tensor, sigma: float, top: int, rows_per_pass: int) -> tuple[dict, dict]:
    """Everything measured at one σ: y = x + σz, J = ∇D(y), its asymmetry, basis, trace and the homogeneity check."""
    y = x + sigma * z
    with torch.no_grad():
        denoised = d(y[None])[0]
    j = jacobian(d, y, rows_per_pass)
    values, vectors = shrinkage_basis(j)
    trace = float(torch.trace(j.double()))
    error = float((denoised - x).double().square().sum())
    metrics = {
        "sigma": sigma,
        "asymmetry": relative(j - j.T, j),
        "homogeneity": relative(denoised.flatten() - j @ y.flatten(), denoised),
        "trace": trace,
        "effective_dimension_fraction": trace / x.numel(),
        "squared_error": error,
        "sigma2_trace": sigma**2 * trace,
        "error_over_sigma2_trace": error / (sigma**2 * trace) if trace > 0 else float("nan"),
        "psnr_noisy": float(psnr(y[None], x[None])),
        "psnr_denoised": float(psnr(denoised[None], x[None])),
        "eigenvalues_top": values[:top].tolist(),
        "eigenvalue_range": [float(values[-1]), float(values[0])],
    }
    arrays = {
        "eigenvalues": values.cpu().numpy(),
        "eigenvectors": vectors[:, :top].T.reshape(-1, *x.shape).cpu().numpy(),
        "noisy": y.detach().cpu().numpy(),
        "denoised": denoised.detach().cpu().numpy(),
    }
    return metrics, arrays


def check_sigmas(sigmas: Sequence[float]) -> None:
    if not sigmas or not all(np.isfinite(s) and s > 0 for s in sigmas):
        raise ConfigError(f"noise levels σ must be positive finite numbers, at least one; got {list(sigmas)}")


def adaptive_basis(d, x: torch.Tensor, sigmas: Sequence[float], seed: int = 0, top: int = 16, image: int = 0,
                   rows_per_pass: int = 64) -> StageResult:
    """The 2023 paper's analysis of D at x + σz for each σ (one z keyed by (seed, image), shared by every σ): J's
    asymmetry ‖J − Jᵀ‖/‖J‖, the eigen-decomposition of its symmetric part, tr J against σ, the homogeneity check
    ‖D(y) − J·y‖/‖D(y)‖ (0 for a bias-free network) and the squared error ‖D(y) − x‖² against σ²·tr J."""
    check_sigmas(sigmas)
    if top < 1:
        raise ConfigError(f"the number of eigenvectors kept must be at least 1, got {top}")
    x = x[0] if x.ndim == 4 and len(x) == 1 else x
    if x.ndim != 3:
        raise ConfigError(f"adaptive_basis takes one clean C×H×W image, got shape {tuple(x.shape)}")
    if top > x.numel():
        raise ConfigError(f"top {top} asks for more eigenvectors than the {x.numel()} dimensions (C·H·W) of a {'×'.join(map(str, x.shape))} image")
    z = rng.image_noise(x.shape, seed, [image], device=x.device)[0].to(x.dtype)
    per_sigma = [at_sigma(d, x, z, float(s), top, rows_per_pass) for s in sorted(sigmas)]
    metrics = {"image": image, "seed": seed, "shape": list(x.shape), "dimension": x.numel(), "top": top,
               "sigmas": [m["sigma"] for m, _ in per_sigma], "per_sigma": [m for m, _ in per_sigma]}
    arrays = {"sigmas": np.array(metrics["sigmas"]), "clean": x.detach().cpu().numpy(),
              **{k: np.stack([a[k] for _, a in per_sigma]) for k in per_sigma[0][1]}}
    for key in ("trace", "asymmetry", "homogeneity", "error_over_sigma2_trace"):
        arrays[key] = np.array([m[key] for m, _ in per_sigma])
    return StageResult("jacobian", metrics, {"jacobian": arrays})
