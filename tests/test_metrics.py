import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from denoscope.metrics import psnr, ssim


def test_psnr_of_a_constant_offset_is_its_closed_form():
    x = torch.rand(3, 2, 8, 8)
    for c in (0.1, -0.03, 0.5):
        assert torch.allclose(psnr(x, x + c), torch.full((3,), -20 * math.log10(abs(c)), dtype=torch.float64), atol=1e-5)
    assert torch.allclose(psnr(255 * x, 255 * (x + 0.1), peak=255.0), psnr(x, x + 0.1), atol=1e-4)
    assert psnr(x, x.clone()).isinf().all()


def test_ssim_of_an_image_with_itself_is_one_and_symmetric():
    x = torch.rand(2, 3, 24, 24)
    y = x + 0.1 * torch.randn(x.shape, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(ssim(x, x), torch.ones(2, dtype=torch.float64), atol=1e-12)
    assert torch.allclose(ssim(x, y), ssim(y, x), atol=1e-12)
    assert (ssim(x, y) < 0.99).all()


def test_ssim_falls_as_noise_grows():
    x = F.avg_pool2d(torch.rand(1, 1, 36, 36, generator=torch.Generator().manual_seed(1)), 3, 1)
    scores = [ssim(x, x + s * torch.randn(x.shape, generator=torch.Generator().manual_seed(0))).item() for s in (0.02, 0.05, 0.1, 0.2, 0.4)]
    assert all(a > b for a, b in zip(scores, scores[1:]))


def test_ssim_of_constant_images_is_the_luminance_term():
    c1 = 0.01**2
    for mx, my in ((0.2, 0.7), (0.5, 0.5), (0.9, 0.1)):
        x, y = torch.full((1, 3, 16, 16), mx), torch.full((1, 3, 16, 16), my)
        assert ssim(x, y).item() == pytest.approx((2 * mx * my + c1) / (mx**2 + my**2 + c1), abs=1e-6)
        assert ssim(255 * x, 255 * y, peak=255.0).item() == pytest.approx(ssim(x, y).item(), abs=1e-6)


def test_ssim_on_one_window_matches_a_hand_computation():
    rng = np.random.default_rng(2)
    x, y = rng.random((11, 11)), rng.random((11, 11))
    g = np.exp(-((np.arange(11) - 5) ** 2) / (2 * 1.5**2))
    w = np.outer(g, g) / g.sum() ** 2
    mx, my = (w * x).sum(), (w * y).sum()
    vx, vy, cxy = (w * (x - mx) ** 2).sum(), (w * (y - my) ** 2).sum(), (w * (x - mx) * (y - my)).sum()
    c1, c2 = 0.01**2, 0.03**2
    expected = (2 * mx * my + c1) * (2 * cxy + c2) / ((mx**2 + my**2 + c1) * (vx + vy + c2))
    got = ssim(torch.from_numpy(x)[None, None], torch.from_numpy(y)[None, None]).item()
    assert got == pytest.approx(expected, abs=1e-6)
    with pytest.raises(ValueError, match="11×11"):
        ssim(torch.rand(1, 1, 10, 20), torch.rand(1, 1, 10, 20))
