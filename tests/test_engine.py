import math

import numpy as np
import pytest
import torch

from denoscope.denoiser import GaussianDenoiser
from denoscope.errors import ConfigError
from denoscope.sampling.engine import DiffusionConfig, reverse_diffusion, start_from, step_size

FAST = DiffusionConfig(sigma_final=0.01, h0=0.05, beta=0.05, max_steps=2000)


def prior(side: int = 3, seed: int = 0) -> GaussianDenoiser:
    g = torch.Generator().manual_seed(seed)
    n = side * side
    a = torch.randn(n, n, generator=g, dtype=torch.float64)
    q, _ = torch.linalg.qr(a)
    eig = torch.linspace(0.01, 0.05, n, dtype=torch.float64)  # stds 0.1 … 0.22
    cov = q @ torch.diag(eig) @ q.T
    return GaussianDenoiser(0.5 + 0.1 * torch.randn(n, generator=g, dtype=torch.float64), cov, (1, side, side))


def test_step_size_schedule():
    c = DiffusionConfig(h0=0.01)
    assert step_size(1, c) == pytest.approx(0.01)
    assert step_size(100, c) == pytest.approx(1 / (1 + 0.99))
    assert step_size(10**6, c) == pytest.approx(1, abs=1e-3)
    assert step_size(7, DiffusionConfig(fixed_h=0.2)) == 0.2


def test_samples_of_the_exact_gaussian_denoiser_have_the_priors_mean_and_covariance():
    d = prior(side=6)  # in very few dimensions σ̂ = ‖d‖/√N is too noisy to steer by
    n = 2000
    start = start_from(d.mean.reshape(d.shape), n, seed=1)
    out = reverse_diffusion(d, start, seed=1, config=FAST)
    assert out.converged.all()
    x = out.final.reshape(n, -1)
    mean_err = (x.mean(0) - d.mean).abs().max().item()
    assert mean_err < 4 * math.sqrt(0.05 / n)
    cov = torch.cov(x.T)
    target = d.cov + 0.01**2 * torch.eye(len(d.mean), dtype=torch.float64)  # y stops at σ̂ just under σ_L
    assert (cov - target).abs().max().item() < 4 * 0.05 * math.sqrt(2 / n)
    # σ̂ falls from about 1 to σ_L; every image took its own number of steps
    assert np.nanmax(out.sigma[:, 0]) > 0.8 and (out.sigma[np.arange(n), out.steps] < 0.01).all()
    assert len(set(out.steps.tolist())) > 1


def test_one_step_injects_gamma_z_with_gamma_squared_the_closed_form():
    # y ← y + h·d + γz with γ² = ((1 − βh)² − (1 − h)²)·σ̂²: with D(y) = 0, d = −y and y₂ − (1 − h)y₁ = γz exactly
    from denoscope import rng

    class Zero:
        def residual(self, y):
            return -y

    h, beta, seed = 0.5, 0.5, 4
    start = 2.0 * torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    seen = {}
    config = DiffusionConfig(fixed_h=h, beta=beta, sigma_final=1e-9, max_steps=2, diverge=100.0)
    reverse_diffusion(Zero(), start, seed, config, callback=lambda t, ids, y, sigma: seen.setdefault(t, (y.clone(), sigma.clone())))
    (y1, sigma1), (y2, _) = seen[1], seen[2]
    gamma = sigma1 * math.sqrt((1 - beta * h) ** 2 - (1 - h) ** 2)  # 0.559 σ̂ (β in place of βh would give 0)
    z = rng.normal(rng.key(seed, torch.arange(2), 1), y1.shape[1:]).double()
    torch.testing.assert_close(y2, (1 - h) * y1 + gamma.view(-1, 1, 1, 1) * z, rtol=1e-5, atol=1e-5)
    injected = (y2 - (1 - h) * y1).flatten(1).var(dim=1)  # over 12 288 pixels: the variance γ² to within ±3 %
    torch.testing.assert_close(injected, gamma**2, rtol=0.03, atol=0)


def test_a_gaussian_denoisers_step_injects_the_expected_noise_variance():
    # one step from the Gaussian prior's y: E‖y₂ − y₁ − h·d₁‖²/N = γ² = ((1 − βh)² − (1 − h)²)·σ̂₁², σ̂₁ ≠ 1
    d = prior(side=6)
    start = start_from(d.mean.reshape(d.shape), 500, seed=2, sigma=0.5)
    seen = {}
    config = DiffusionConfig(fixed_h=0.3, beta=0.2, sigma_final=1e-9, max_steps=2, diverge=100.0)
    reverse_diffusion(d, start, 2, config, callback=lambda t, ids, y, sigma: seen.setdefault(t, (y.clone(), sigma.clone())))
    (y1, sigma1), (y2, _) = seen[1], seen[2]
    step = y2 - y1 - 0.3 * (d(y1) - y1)
    expected = ((1 - 0.2 * 0.3) ** 2 - (1 - 0.3) ** 2) * sigma1.square().mean()
    assert step.square().mean().item() == pytest.approx(expected.item(), rel=0.05)  # β for βh: −23 %


def test_each_image_stops_on_its_own_and_a_sample_does_not_depend_on_its_batch():
    d = prior()
    start = start_from(d.mean.reshape(d.shape), 6, seed=3)
    together = reverse_diffusion(d, start, seed=3, config=FAST)
    alone = [reverse_diffusion(d, start[i : i + 1], seed=3, config=FAST, ids=torch.tensor([i])) for i in range(6)]
    for i, a in enumerate(alone):
        torch.testing.assert_close(a.final[0], together.final[i], rtol=1e-9, atol=1e-12)
        assert a.steps[0] == together.steps[i]
    assert together.evaluations == together.steps.sum() + 6  # one evaluation per step, and one to see it stop


def test_the_step_guard_and_divergence_are_reported_per_image():
    d = prior()
    start = start_from(d.mean.reshape(d.shape), 3, seed=0)
    out = reverse_diffusion(d, start, seed=0, config=DiffusionConfig(max_steps=5))
    assert out.status == ["max_steps"] * 3 and (out.steps == 5).all()

    class Exploding:
        def residual(self, y):
            return 0.5 * y  # moves y away: σ̂ grows every step

    out = reverse_diffusion(Exploding(), start, seed=0, config=DiffusionConfig(h0=0.5, diverge=2.0))
    assert out.status == ["diverged"] * 3 and (out.steps < 20).all()


def test_a_measurement_is_kept_exactly():
    d = prior(side=4)

    class KeepFirstPixels:  # Mᵀx = the first 5 pixels: orthonormal
        def measure(self, x):
            return x.flatten(1)[:, :5]

        def adjoint(self, c):
            out = torch.zeros(len(c), 16, dtype=c.dtype)
            out[:, :5] = c
            return out.reshape(len(c), 1, 4, 4)

    op = KeepFirstPixels()
    x = start_from(d.mean.reshape(d.shape), 4, seed=9, sigma=0.1)
    x_c = op.measure(x)
    out = reverse_diffusion(d, start_from(d.mean.reshape(d.shape), 4, seed=2), seed=2, config=FAST, operator=op, measurement=x_c)
    torch.testing.assert_close(op.measure(out.samples), x_c)
    assert out.converged.all()


def test_bad_settings_are_refused():
    for bad, message in ((dict(sigma_final=0), "sigma_final"), (dict(max_steps=0), "max_steps"), (dict(beta=2), "beta"), (dict(fixed_h=0), "fixed step")):
        with pytest.raises(ConfigError, match=message):
            DiffusionConfig(**bad)
