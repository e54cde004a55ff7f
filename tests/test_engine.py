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
