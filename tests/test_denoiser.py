import math

import pytest
import torch
import torch.nn.functional as F

from denoscope.config import PRESETS, ModelConfig
from denoscope.denoiser import Denoiser, GaussianDenoiser, padding_needed
from denoscope.errors import ConfigError
from denoscope.nn.unet import BlindUNet

CONFIG = ModelConfig(widths=(8, 16), mid_width=16, enc_depth=2, mid_depth=1, dec_depth=2)


class Identity(BlindUNet):
    """D(y) = y, refusing sizes the real network would refuse; remembers what it was given."""

    def __init__(self):
        super().__init__(CONFIG)
        self.seen: list[torch.Tensor] = []

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        self.check_input(y)
        self.seen.append(y)
        return y


def denoiser(**overrides) -> Denoiser:
    torch.manual_seed(0)
    return Denoiser(BlindUNet(ModelConfig(**{**CONFIG.__dict__, **overrides})), batch_size=2)


def test_padding_needed_reaches_the_next_multiple():
    assert padding_needed(13, 18, 4) == (3, 2)
    assert padding_needed(16, 32, 8) == (0, 0)
    assert padding_needed(1, 9, 8) == (7, 7)


def test_any_size_is_reflect_padded_and_cropped_back_exactly():
    net = Identity()
    y = torch.rand(3, 3, 13, 18)
    assert torch.equal(Denoiser(net, batch_size=2)(y), y)
    assert [tuple(s.shape) for s in net.seen] == [(2, 3, 16, 20), (1, 3, 16, 20)]
    assert torch.equal(net.seen[1], F.pad(y[2:], (0, 2, 0, 3), mode="reflect"))


def test_images_too_small_to_reflect_are_replicated():
    net = Identity()
    y = torch.rand(2, 3, 2, 3)
    assert torch.equal(Denoiser(net)(y), y)
    assert torch.equal(net.seen[0], F.pad(y, (0, 1, 0, 2), mode="replicate"))


def test_always_eval_mode_frozen_and_independent_of_batch_size():
    net = BlindUNet(ModelConfig(**{**CONFIG.__dict__, "norm": "batch"})).train()
    with torch.no_grad():
        net(torch.rand(4, 3, 16, 16))  # running stds away from 1, so train and eval mode differ
    d = Denoiser(net, batch_size=2)
    assert not net.training and not any(p.requires_grad for p in net.parameters())
    y = torch.rand(5, 3, 13, 18)
    with torch.no_grad():
        out = d(y)
        assert torch.allclose(out, Denoiser(net, batch_size=64)(y), atol=1e-6)
        assert torch.allclose(d.residual(y), out - y)


@pytest.mark.parametrize("head", ["image", "residual"])
def test_the_head_makes_d_of_y_from_the_backbone_output(head):
    """D(y) = y − f(y) for a residual head (f predicts the noise), f(y) for an image head; f the last decoder block."""
    d = denoiser(head=head)
    y = torch.rand(2, 3, 16, 16)  # one chunk, as the Denoiser's batch size is 2
    with torch.no_grad():
        f = d.net.forward_blocks(y)["dec1"]
        assert torch.equal(d.net(y), f)
        assert torch.equal(d(y), y - f if head == "residual" else f)


@pytest.mark.parametrize("head", ["image", "residual"])
def test_a_silent_last_layer_gives_zero_or_the_identity_by_head(head):
    d = denoiser(head=head)
    last = d.net.blocks["dec1"][-1][0]
    with torch.no_grad():
        last.weight.zero_()
        last.bias.zero_()
        y = torch.rand(2, 3, 13, 18)
        assert torch.equal(d(y), y if head == "residual" else torch.zeros_like(y))


def test_block_means_are_spatial_means_of_the_blocks_and_phi_is_the_middle_block():
    d = denoiser()
    y = torch.rand(3, 3, 16, 16)
    with torch.no_grad():
        maps = d.net.forward_blocks(y, inputs=True)
        means = d.means(y, ("enc1", "mid"), inputs=True)
        assert set(means) == {"enc1", "mid", "enc1.in", "mid.in"}
        assert torch.allclose(means["mid"], maps["mid"].mean((2, 3)))
        assert torch.allclose(means["enc1.in"], y.mean((2, 3)))
        assert torch.equal(d.mid_mean(y), means["mid"])


def test_block_maps_of_a_padded_image_cover_only_the_image():
    d = denoiser()
    with torch.no_grad():
        maps = d.blocks(torch.rand(2, 3, 13, 18), ("enc1", "enc2", "mid"))
    assert maps["enc1"].shape[-2:] == (13, 18)
    assert maps["enc2"].shape[-2:] == (7, 9)
    assert maps["mid"].shape[-2:] == (4, 5)
    with pytest.raises(ConfigError, match="unknown block"):
        d.blocks(torch.rand(1, 3, 8, 8), ("middle",))


def test_phi_is_differentiable_with_respect_to_the_image_only():
    d = denoiser()
    y = torch.rand(1, 3, 16, 16, requires_grad=True)
    d.mid_mean(y).square().sum().backward()
    assert y.grad is not None and y.grad.abs().sum() > 0
    assert all(p.grad is None for p in d.net.parameters())


def test_wrong_channel_count_is_refused():
    with pytest.raises(ConfigError, match="N×3×H×W"):
        denoiser()(torch.rand(1, 1, 8, 8))


def gaussian(n_side: int = 4, seed: int = 0) -> tuple[GaussianDenoiser, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    n = n_side * n_side
    a = torch.randn(n, n, generator=g, dtype=torch.float64) / math.sqrt(n)
    cov = a @ a.T * 0.05 + 1e-3 * torch.eye(n, dtype=torch.float64)
    mean = torch.rand(n, generator=g, dtype=torch.float64)
    return GaussianDenoiser(mean, cov, (1, n_side, n_side)), mean, cov


def sample(prior: GaussianDenoiser, mean: torch.Tensor, cov: torch.Tensor, k: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    chol = torch.linalg.cholesky(cov)
    x = mean + torch.randn(k, len(mean), generator=g, dtype=torch.float64) @ chol.T
    return x.reshape(k, *prior.shape)


def test_gaussian_denoiser_is_the_closed_form():
    prior, mean, cov = gaussian()
    y = torch.rand(3, 1, 4, 4, dtype=torch.float64)
    sigma = 0.3
    expected = mean + (cov @ torch.linalg.solve(cov + sigma**2 * torch.eye(16, dtype=torch.float64), (y.reshape(3, 16) - mean).T)).T
    torch.testing.assert_close(prior(y, sigma).reshape(3, 16), expected)
    torch.testing.assert_close(prior.residual(y, sigma), prior(y, sigma) - y)


def test_gaussian_denoiser_is_the_mmse_estimator_on_samples_of_its_prior():
    prior, mean, cov = gaussian()
    x = sample(prior, mean, cov, 20000, seed=1)
    sigma = 0.2
    y = x + sigma * torch.randn(x.shape, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    d = prior(y, sigma)
    mse = (d - x).square().mean().item()
    assert mse == pytest.approx(prior.mmse(sigma), rel=0.03)
    for scale in (0.9, 1.1):  # any other estimator of this family does worse
        assert ((mean.reshape(1, 1, 4, 4) + scale * (d - mean.reshape(1, 1, 4, 4))) - x).square().mean().item() > mse
    # orthogonality: the error is uncorrelated with the observation
    err, yc = (x - d).reshape(len(x), -1), (y - y.mean(0)).reshape(len(x), -1)
    assert (err.T @ yc / len(x)).abs().max().item() < 5 * math.sqrt(prior.mmse(sigma) * 0.1 / len(x)) + 2e-3


def test_blind_gaussian_denoiser_estimates_sigma():
    prior, mean, cov = gaussian(n_side=8)
    x = sample(prior, mean, cov, 200, seed=3)
    for sigma in (0.1, 0.3, 1.0):  # (well below the prior's smallest std, 0.03, one image says little about σ)
        y = x + sigma * torch.randn(x.shape, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
        est = prior.estimate_sigma(y)
        assert est.mean().item() == pytest.approx(sigma, rel=0.05)
        assert (prior(y) - prior(y, est)).abs().max() < 1e-12


def test_phi_is_the_mean_of_the_middle_means_over_keyed_draws():
    """d.phi(x, σs, draws) = (1/K) Σ_k ā_mid(x + σ z_k) with z_k = rng noise of (seed, image id, k); one draw at σ = 0."""
    from denoscope import rng

    d = Denoiser(BlindUNet(PRESETS["tiny"]).eval())
    x = torch.rand(3, 3, 16, 16)
    phi = d.phi(x, (0.0, 0.3), draws=4, seed=7, ids=[5, 6, 7])
    assert phi.shape == (3, 2, d.config.mid_width)
    z = torch.stack([rng.image_noise(x.shape[1:], 7, [5, 6, 7], draw=k) for k in range(4)], 1)
    want = torch.stack([d.mid_mean(x + 0.3 * z[:, k]) for k in range(4)]).mean(0)
    assert torch.allclose(phi[:, 1], want, atol=1e-6)
    assert torch.allclose(phi[:, 0], d.mid_mean(x), atol=1e-6)
    assert torch.equal(d.phi(x[1:], (0.3,), draws=4, seed=7, ids=[6, 7])[:, 0], phi[1:, 1])
