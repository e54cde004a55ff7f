import numpy as np
import pytest
import torch

from denoscope.config import ModelConfig
from denoscope.denoiser import Denoiser
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
    torch.testing.assert_close(target.masked([1])(torch.tensor([0.5]), rows[:1]), torch.tensor([[2.0, 0.0]]))
    other = PhiTarget(target.sigmas, table + 10)
    torch.testing.assert_close(target.interpolate(other, 0.25)(torch.tensor([0.0]), rows[:1]), torch.tensor([[2.5, 3.5]]))


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
    assert (after <= 0.05 * before).all()
    assert all(p.grad is None for p in d.net.parameters())
    assert match.log.iters[0] < 200 and (match.log.first[0] == before.numpy()).all()


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
    for bad in (dict(eta=0), dict(tolerance=1), dict(max_iters=0)):
        with pytest.raises(ConfigError):
            GuidanceConfig(**bad)
