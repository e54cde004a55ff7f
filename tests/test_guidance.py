import math

import numpy as np
import pytest
import torch

from denoscope.config import ModelConfig
from denoscope.denoiser import Denoiser, GaussianDenoiser
from denoscope.errors import ConfigError
from denoscope.nn.unet import BlindUNet
from denoscope.sampling.engine import DiffusionConfig, reverse_diffusion, start_from
from denoscope.sampling.guidance import GuidanceConfig, PhiMatching, PhiTarget, target_from_images

CONFIG = ModelConfig(widths=(8, 16), mid_width=16, enc_depth=2, mid_depth=1, dec_depth=2)


def denoiser() -> Denoiser:
    torch.manual_seed(0)
    return Denoiser(BlindUNet(CONFIG))


def test_phi_target_interpolates_linearly_in_sigma_and_clamps():
    table = torch.tensor([[[0.0, 1.0], [2.0, 3.0], [4.0, 5.0]]])  # one target, σ grid 0, 0.5, 1
    target = PhiTarget(torch.tensor([0.0, 0.5, 1.0]), table)
    rows = torch.zeros(4, dtype=torch.long)
    got = target(torch.tensor([0.5, 0.25, 2.0, -1.0]), rows)
    torch.testing.assert_close(got, torch.tensor([[2.0, 3.0], [1.0, 2.0], [4.0, 5.0], [0.0, 1.0]]))


def test_matching_brings_phi_to_a_reachable_target_without_touching_the_weights():
    d = denoiser()
    g = torch.Generator().manual_seed(1)
    x_target = torch.rand(2, 3, 16, 16, generator=g)
    target = target_from_images(d, x_target, [0, 1], (0.0, 0.2, 0.4), draws=2, seed=0)
    y = x_target.flip(0) + 0.2 * torch.randn(2, 3, 16, 16, generator=g)  # each starts from the other target
    match = PhiMatching(d, target, GuidanceConfig(eta=0.5, tolerance=0.05, max_iters=200))
    before = match.loss(y, target(torch.full((2,), 0.2), torch.arange(2)))
    moved = match(y, torch.full((2,), 0.2), torch.arange(2))
    after = match.loss(moved, target(torch.full((2,), 0.2), torch.arange(2)))
    assert (after.sqrt() <= 0.05 * target(torch.full((2,), 0.2), torch.arange(2)).norm(dim=1)).all()
    assert all(p.grad is None for p in d.net.parameters())
    assert (match.log.iters[0] < 200).all() and (match.log.last[0] <= 0.05).all()
    torch.testing.assert_close(torch.tensor(match.log.first[0]), before.sqrt() / target(torch.full((2,), 0.2), torch.arange(2)).norm(dim=1))


def test_self_guided_diffusion_runs_and_logs_sigma_before_every_match():
    d = denoiser()
    x = torch.rand(1, 3, 16, 16, generator=torch.Generator().manual_seed(3))
    target = target_from_images(d, x, [0], (0.0, 0.5, 1.0), draws=2, seed=0)
    match = PhiMatching(d, target, GuidanceConfig(max_iters=3), rows=torch.zeros(2, dtype=torch.long))
    after = []
    out = reverse_diffusion(d, start_from(x[0] * 0 + 0.5, 2, seed=0), seed=0, config=DiffusionConfig(max_steps=4),
                            guidance=match, callback=lambda t, ids, y, s: after.append(s.numpy()))
    assert out.status == ["max_steps", "max_steps"]
    assert len(match.log.sigma_before) == len(after) == 5
    assert np.isfinite(np.concatenate(match.log.last)).all()


def test_bad_guidance_settings_are_refused():
    for bad in (dict(eta=0), dict(eta=3), dict(tolerance=1), dict(max_iters=0), dict(phi_of="clean"), dict(draws=0)):
        with pytest.raises(ConfigError):
            GuidanceConfig(**bad)


class LinearPhi(GaussianDenoiser):
    """The exact denoiser of a Gaussian prior with φ(y) = Ay: the conditional law p(x | Ax = b) is known in closed form."""

    def __init__(self, mean, cov, shape, a):
        super().__init__(mean, cov, shape)
        self.a = a

    def mid_mean(self, y):
        return y.flatten(1).double() @ self.a.T


def linear_prior(side: int = 6, seed: int = 0) -> LinearPhi:
    """Correlated pixels; φ reads (scaled) three of the covariance's eigenvectors, so that p_σ(x | φ) keeps the
    conditional mean at every σ. (With a φ that mixes eigenvectors the conditional mean of the noisy prior shifts
    with σ, and a sampler that freezes its mean as σ falls ends between the two.)"""
    g = torch.Generator().manual_seed(seed)
    n = side * side
    q, _ = torch.linalg.qr(torch.randn(n, n, generator=g, dtype=torch.float64))
    cov = q @ torch.diag(torch.linspace(0.01, 0.05, n, dtype=torch.float64)) @ q.T
    a = q[:, [0, n // 2, n - 1]].T * torch.tensor([[1.0], [2.0], [4.0]], dtype=torch.float64)
    return LinearPhi(0.5 + 0.1 * torch.randn(n, generator=g, dtype=torch.float64), cov, (1, side, side), a)


def constant_target(b: torch.Tensor) -> PhiTarget:
    return PhiTarget(torch.tensor([0.0, 2.0], dtype=torch.float64), b[:, None, :].expand(-1, 2, -1).contiguous())


def test_matching_a_linear_phi_lands_on_the_orthogonal_projection_within_tolerance():
    d = linear_prior()
    g = torch.Generator().manual_seed(1)
    b = d.mid_mean(torch.rand(2, 1, 6, 6, generator=g, dtype=torch.float64))
    y = torch.rand(2, 1, 6, 6, generator=g, dtype=torch.float64)
    match = PhiMatching(d, constant_target(b), GuidanceConfig(tolerance=1e-4, max_iters=200))
    moved = match(y, torch.full((2,), 0.3, dtype=torch.float64), torch.arange(2))
    assert ((d.mid_mean(moved) - b).norm(dim=1) <= 1e-4 * b.norm(dim=1)).all()
    a = d.a
    projection = y.flatten(1) - (d.mid_mean(y) - b) @ torch.linalg.solve(a @ a.T, a)  # the nearest y with Ay = b
    torch.testing.assert_close(moved.flatten(1), projection, atol=1e-4 * float(b.norm()), rtol=0)
    assert (match.log.last[0] <= 1e-4).all() and (match.log.iters[0] < 200).all()


def test_each_call_never_raises_the_loss_and_logs_what_it_did():
    d = denoiser()
    g = torch.Generator().manual_seed(5)
    target = target_from_images(d, torch.rand(3, 3, 16, 16, generator=g), [0, 1, 2], (0.0, 0.5), draws=2, seed=0)
    match = PhiMatching(d, target, GuidanceConfig(eta=2.0, tolerance=1e-6, max_iters=3))
    for sigma in (0.5, 0.1):
        match(torch.rand(3, 3, 16, 16, generator=g), torch.full((3,), sigma), torch.arange(3))
    assert all((last <= first).all() for first, last in zip(match.log.first, match.log.last))
    s = match.log.summary(1e-6)
    assert s["calls"] == 2 and s["image_calls"] == 6 and s["reached_tolerance"] == 0 and s["iterations_total"] == 18


@pytest.mark.slow
def test_self_guided_samples_have_the_conditional_laws_mean():
    d = linear_prior()
    z = torch.randn(36, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    x_c = (d.mean + d.eigvecs @ (d.eigvals.sqrt() * z)).reshape(1, 1, 6, 6)  # a typical image of the prior: σ̂ can fall to σ_L
    b = d.mid_mean(x_c)
    n = 400
    match = PhiMatching(d, constant_target(b), GuidanceConfig(tolerance=1e-3, max_iters=50), rows=torch.zeros(n, dtype=torch.long))
    config = DiffusionConfig(sigma_final=0.01, h0=0.05, beta=0.05, max_steps=2000)
    out = reverse_diffusion(d, start_from(d.mean.reshape(d.shape), n, seed=4), seed=4, config=config, guidance=match)
    assert out.converged.all()
    x = out.final.reshape(n, -1)
    a, c, mu = d.a, d.cov, d.mean
    want = mu + c @ a.T @ torch.linalg.solve(a @ c @ a.T, b[0] - a @ mu)  # E[x | Ax = b]
    sd = torch.sqrt(torch.diag(c - c @ a.T @ torch.linalg.solve(a @ c @ a.T, a @ c)) + 0.01**2)
    assert ((x.mean(0) - want).abs() < 4 * sd / math.sqrt(n)).all()
    assert ((x.mean(0) - mu).abs() > 8 * sd / math.sqrt(n)).any()  # and the prior's mean is far from it
    last = np.concatenate(match.log.last)  # steepest descent on φ's condition number 16: most calls reach 1e-3 in 50 steps
    assert np.mean(last <= 1e-3) > 0.5 and np.quantile(last, 0.99) < 1e-2


class ArctanPhi:
    """φ(y) = arctan(mean y): the full step along −∇L is Newton's, which overshoots and diverges from |mean y| > 1.4."""

    def mid_mean(self, y):
        return torch.atan(y.mean((1, 2, 3)))[:, None]


def test_a_step_that_would_raise_the_loss_is_refused_and_matching_still_converges():
    target = PhiTarget(torch.tensor([0.0, 1.0]), torch.full((1, 2, 1), 0.1))
    match = PhiMatching(ArctanPhi(), target, GuidanceConfig(eta=2.0, tolerance=1e-3, max_iters=30))
    y = torch.full((1, 1, 4, 4), 3.0)
    moved = match(y, torch.tensor([0.5]), torch.tensor([0]))
    assert abs(float(torch.atan(moved.mean())) - 0.1) <= 1e-3 * 0.1
    assert match.log.last[0][0] <= 1e-3 < match.log.first[0][0]
