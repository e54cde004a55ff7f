import numpy as np
import pytest
import torch

from denoscope.denoiser import GaussianDenoiser
from denoscope.errors import ConfigError
from denoscope.sampling.distance import density_distance, euclidean_embedding, gaussian_symmetric_kl, sigma_grid


def gaussian(mean: torch.Tensor, cov: torch.Tensor) -> GaussianDenoiser:
    return GaussianDenoiser(mean, cov, (1, 2, 2))


def samples(d: GaussianDenoiser, n: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    chol = torch.linalg.cholesky(d.cov)
    return (d.mean + torch.randn(n, 4, generator=g, dtype=torch.float64) @ chol.T).reshape(n, 1, 2, 2)


def covariance(seed: int, scale: float) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    q, _ = torch.linalg.qr(torch.randn(4, 4, generator=g, dtype=torch.float64))
    return q @ torch.diag(scale * torch.tensor([0.5, 1.0, 1.5, 2.0], dtype=torch.float64)) @ q.T


@pytest.mark.parametrize("same_cov", [True, False])
def test_the_estimator_recovers_the_symmetrised_kl_of_two_gaussians(same_cov):
    c1 = covariance(0, 0.02)
    c2 = c1 if same_cov else covariance(1, 0.03)
    m1 = torch.tensor([0.2, 0.4, 0.5, 0.1], dtype=torch.float64)
    m2 = m1 + torch.tensor([0.15, -0.1, 0.05, 0.2], dtype=torch.float64)
    p1, p2 = gaussian(m1, c1), gaussian(m2, c2)
    f1 = lambda y, s: p1.residual(y, s)  # noqa: E731
    f2 = lambda y, s: p2.residual(y, s)  # noqa: E731
    out = density_distance(f1, f2, samples(p1, 2000, 1), samples(p2, 2000, 2), sigma_grid(1e-3, 1e2, 60))
    exact = gaussian_symmetric_kl(m1, c1, m2, c2)
    assert out["d2"] == pytest.approx(exact, rel=0.04)
    if same_cov:  # equal covariances: d² = Δμᵀ C⁻¹ Δμ, and both one-sided terms are equal
        dm = m1 - m2
        assert exact == pytest.approx(float(dm @ torch.linalg.solve(c1, dm)))
        assert out["kl_12"] == pytest.approx(out["kl_21"], rel=0.05)


def test_identical_densities_are_at_distance_zero():
    c = covariance(2, 0.02)
    p = gaussian(torch.full((4,), 0.5, dtype=torch.float64), c)
    f = lambda y, s: p.residual(y, s)  # noqa: E731
    x = samples(p, 100, 0)
    assert density_distance(f, f, x, x, sigma_grid(0.01, 1, 10))["d2"] == 0


def test_euclidean_embedding_bounds():
    out = euclidean_embedding(np.array([1.0, 2.0, 4.0]), np.array([2.0, 5.0, 8.0]))
    assert (out["A"], out["B"], out["B_over_A"]) == (2.0, 2.5, 1.25)
    with pytest.raises(ConfigError):
        euclidean_embedding(np.array([0.0, 1.0]), np.array([1.0, np.nan]))
    with pytest.raises(ConfigError):
        sigma_grid(1.0, 0.5, 10)
