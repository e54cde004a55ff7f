"""Image quality measures: PSNR and SSIM per image."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .errors import ConfigError


def psnr(x: torch.Tensor, y: torch.Tensor, peak: float = 1.0) -> torch.Tensor:
    """Per-image 10·log10(peak²/MSE) in float64; identical images give inf."""
    mse = (x.double() - y.double()).square().flatten(1).mean(1)
    return 10 * torch.log10(peak**2 / mse)


def gaussian_window(size: int = 11, sigma: float = 1.5) -> torch.Tensor:
    t = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-t.square() / (2 * sigma**2))
    g = g / g.sum()
    return torch.outer(g, g).float()


def ssim(x: torch.Tensor, y: torch.Tensor, peak: float = 1.0) -> torch.Tensor:
    """Per-image SSIM of Wang et al. 2004: 11×11 Gaussian window (σ=1.5), valid positions, mean over channels.

    Local statistics are float32 (CPU conv2d in float64 is some 40× slower), taken of images centred on
    their means so that var = E[x²] − μ² does not cancel away the digits of flat regions.
    """
    if min(x.shape[-2:]) < 11:
        raise ConfigError(f"SSIM needs images of at least 11×11 pixels, got {x.shape[-2]}×{x.shape[-1]}")
    x, y = x.float(), y.float()
    c = x.shape[1]
    w = gaussian_window().to(x.device).expand(c, 1, 11, 11)

    def blur(t: torch.Tensor) -> torch.Tensor:
        return F.conv2d(t, w, groups=c)

    x_mean, y_mean = x.mean((2, 3), keepdim=True), y.mean((2, 3), keepdim=True)
    u, v = x - x_mean, y - y_mean
    mu_u, mu_v = blur(u), blur(v)
    var_x = blur(u * u) - mu_u.square()
    var_y = blur(v * v) - mu_v.square()
    cov = blur(u * v) - mu_u * mu_v
    mu_x, mu_y = mu_u + x_mean, mu_v + y_mean
    c1, c2 = (0.01 * peak) ** 2, (0.03 * peak) ** 2
    s = (2 * mu_x * mu_y + c1) * (2 * cov + c2) / ((mu_x.square() + mu_y.square() + c1) * (var_x + var_y + c2))
    return s.flatten(1).mean(1, dtype=torch.float64)
