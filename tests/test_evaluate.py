import json
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from denoscope.config import model_config
from denoscope.evaluate import (
    add_noise,
    denoise,
    evaluate_images,
    heldout_psnr,
    padding_needed,
    psnr,
    ssim,
    write_denoise_report,
)
from denoscope.model import BlindUNet


class Images:
    """A list-backed stand-in for data.ImageSet."""

    def __init__(self, arrays: list[np.ndarray], name: str = "test"):
        self.arrays, self.name = arrays, name
        self.channels = arrays[0].shape[2]
        self.notes: list[str] = []

    def __len__(self) -> int:
        return len(self.arrays)

    def __getitem__(self, i: int) -> np.ndarray:
        return self.arrays[i]


class Identity(nn.Module):
    """D(y) = y, refusing sizes the real network would refuse; remembers what it was given."""

    factor = 4

    def __init__(self, channels: int = 3):
        super().__init__()
        self.config = model_config("tiny", channels=channels)
        self.one = nn.Parameter(torch.ones(()))
        self.seen: list[torch.Tensor] = []

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        assert y.shape[-2] % self.factor == 0 and y.shape[-1] % self.factor == 0
        self.seen.append(y)
        return y * self.one


def tiny(channels: int = 3) -> BlindUNet:
    torch.manual_seed(0)
    return BlindUNet(model_config("tiny", channels=channels))


def uint8_images(sizes: list[tuple[int, int]], channels: int = 3, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (h, w, channels), dtype=np.uint8) for h, w in sizes]


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
    scores = [ssim(x, add_noise(x, s, seed=0)).item() for s in (0.02, 0.05, 0.1, 0.2, 0.4)]
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


def test_noise_of_an_image_does_not_depend_on_its_batch():
    x = torch.rand(4, 3, 8, 8)
    together = add_noise(x, 0.3, seed=5)
    alone = torch.cat([add_noise(x[k : k + 1], 0.3, seed=5, offset=k) for k in range(4)])
    assert torch.equal(together, alone)
    assert torch.equal(add_noise(x[2:], 0.3, seed=5, offset=2), together[2:])
    assert not torch.equal(add_noise(x, 0.3, seed=6), together)
    assert not torch.allclose(together[0] - x[0], together[1] - x[1])


def test_noise_has_the_requested_std():
    x = torch.zeros(4, 3, 64, 64)
    for sigma in (0.05, 0.3):
        z = add_noise(x, sigma, seed=0)
        assert abs(z.mean().item()) < 0.02 * sigma
        assert z.std().item() == pytest.approx(sigma, rel=0.02)


def test_padding_needed_reaches_the_next_multiple():
    assert padding_needed(13, 18, 4) == (3, 2)
    assert padding_needed(16, 32, 8) == (0, 0)
    assert padding_needed(1, 9, 8) == (7, 7)


def test_denoise_reflect_pads_and_crops_back_exactly():
    model = Identity()
    y = torch.rand(3, 3, 13, 18)
    assert torch.equal(denoise(model, y, batch_size=2), y)
    assert [tuple(s.shape) for s in model.seen] == [(2, 3, 16, 20), (1, 3, 16, 20)]
    assert torch.equal(model.seen[1], F.pad(y[2:], (0, 2, 0, 3), mode="reflect"))


def test_denoise_replicates_images_too_small_to_reflect():
    model = Identity()
    y = torch.rand(2, 3, 2, 3)
    assert torch.equal(denoise(model, y), y)
    assert torch.equal(model.seen[0], F.pad(y, (0, 1, 0, 2), mode="replicate"))


def test_denoise_a_real_network_in_eval_mode_independent_of_batch_size():
    model = tiny().train()
    y = torch.rand(5, 3, 13, 18)
    out = denoise(model, y, batch_size=2)
    assert out.shape == y.shape
    assert torch.allclose(out, denoise(model, y, batch_size=64), atol=1e-6)
    assert model.training


def test_heldout_psnr_of_the_noisy_input_is_the_closed_form():
    clean = torch.rand(16, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    sigmas = (0.05, 0.1, 0.25, 1.0)
    scores = heldout_psnr(tiny(), clean, sigmas, seed=3)
    assert list(scores) == ["psnr", "psnr_input"]
    assert list(scores["psnr_input"]) == list(scores["psnr"]) == ["0.05", "0.1", "0.25", "1"]
    assert scores["psnr_input"]["0.1"] == psnr(add_noise(clean, 0.1, seed=3), clean).mean().item()
    for s in sigmas:
        assert scores["psnr_input"][f"{s:g}"] == pytest.approx(-20 * math.log10(s), abs=0.2)
        assert math.isfinite(scores["psnr"][f"{s:g}"])
    with pytest.raises(ValueError, match="positive"):
        heldout_psnr(tiny(), clean, (0.1, 0.0))


def test_evaluate_and_report_on_images_of_two_sizes(tmp_path):
    images = Images(uint8_images([(20, 24), (13, 18), (20, 24), (13, 18), (20, 24)]))
    model = tiny()
    sigmas = (0.1, 0.2)
    metrics, examples = evaluate_images(model, images, sigmas, seed=7, batch_size=16, examples=4)
    assert metrics["images"] == 5 and metrics["seed"] == 7 and metrics["source"] == "test"
    assert metrics["padded"] == 2 and metrics["padding"] == "reflect to a multiple of 4"
    assert list(metrics["sigma"]) == ["0.1", "0.2"]
    for s in sigmas:
        m = metrics["sigma"][f"{s:g}"]
        assert set(m) == {"psnr", "psnr_input", "ssim", "ssim_input", "psnr_std"}
        assert m["psnr_input"] == pytest.approx(-20 * math.log10(s), abs=0.5)
        assert 0 < m["ssim_input"] < 1 and m["psnr_std"] >= 0

    assert examples["clean"].shape == (4, 13, 18, 3) and examples["clean"].dtype == np.float32
    assert examples["noisy"].shape == examples["denoised"].shape == (2, 4, 13, 18, 3)
    assert examples["sigmas"].tolist() == [0.1, 0.2]
    x0 = torch.from_numpy(images[0]).permute(2, 0, 1)[None].float() / 255
    y0 = add_noise(x0, 0.2, seed=7, offset=0)
    centre = (..., slice(3, 16), slice(3, 21))
    assert np.allclose(examples["clean"][0], x0[0].permute(1, 2, 0)[3:16, 3:21].numpy())
    assert np.allclose(examples["noisy"][1, 0], y0[0].permute(1, 2, 0)[3:16, 3:21].numpy(), atol=1e-6)
    assert np.allclose(examples["denoised"][1, 0], denoise(model, y0)[centre][0].permute(1, 2, 0).numpy(), atol=1e-5)
    x1 = torch.from_numpy(images[1]).permute(2, 0, 1)[None].float() / 255
    assert np.allclose(examples["noisy"][0, 1], add_noise(x1, 0.1, seed=7, offset=1)[0].permute(1, 2, 0).numpy(), atol=1e-6)

    out = tmp_path / "report"
    write_denoise_report(out, metrics, examples)
    assert json.loads((out / "metrics.json").read_text()) == metrics
    with np.load(out / "examples.npz", allow_pickle=False) as saved:
        assert sorted(saved.files) == ["clean", "denoised", "noisy", "sigmas"]
        assert np.array_equal(saved["noisy"], examples["noisy"])
    with Image.open(out / "denoised.png") as png:
        assert png.format == "PNG" and png.size[0] > png.size[1]
    assert sorted(p.name for p in out.iterdir()) == ["denoised.png", "examples.npz", "metrics.json"]


def test_evaluation_does_not_depend_on_batch_size_or_order_of_sizes():
    arrays = uint8_images([(16, 16), (12, 20), (16, 16), (12, 20)], channels=1, seed=1)
    model = tiny(channels=1)
    one, _ = evaluate_images(model, Images(arrays), (0.1,), batch_size=1, examples=1)
    many, _ = evaluate_images(model, Images(arrays), (0.1,), batch_size=16, examples=1)
    for k, v in one["sigma"]["0.1"].items():
        assert many["sigma"]["0.1"][k] == pytest.approx(v, abs=1e-6)
    first, ex = evaluate_images(model, Images(arrays), (0.1,), max_images=1, examples=3)
    assert first["images"] == 1 and first["padded"] == 0 and first["padding"] == "none"
    assert ex["clean"].shape == (1, 16, 16, 1)


def test_grayscale_examples_draw(tmp_path):
    arrays = uint8_images([(16, 16)] * 2, channels=1)
    metrics, examples = evaluate_images(tiny(channels=1), Images(arrays), (0.1, 0.2, 0.4))
    write_denoise_report(tmp_path, metrics, examples)
    with Image.open(tmp_path / "denoised.png") as png:
        png.verify()


def test_a_channel_mismatch_is_refused_naming_both_counts():
    images = Images(uint8_images([(16, 16)], channels=1))
    with pytest.raises(ValueError, match=r"1-channel.*3-channel"):
        evaluate_images(tiny(channels=3), images, (0.1,))
