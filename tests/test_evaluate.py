import json
import math

import numpy as np
import pytest
import torch
from PIL import Image

from denoscope.config import model_config
from denoscope.denoiser import Denoiser
from denoscope.errors import ConfigError, DataError
from denoscope.evaluate import denoise, heldout_psnr
from denoscope.reporting.figures import draw_denoise
from denoscope.metrics import psnr
from denoscope.nn.unet import BlindUNet
from denoscope.rng import image_noise


class Images:
    """A list-backed stand-in for data.ImageSet."""

    def __init__(self, arrays: list[np.ndarray], name: str = "test"):
        self.arrays, self.name = arrays, name
        self.channels = arrays[0].shape[2]
        self.sizes = np.array([a.shape[:2] for a in arrays])
        self.notes: list[str] = []

    def __len__(self) -> int:
        return len(self.arrays)

    def __getitem__(self, i: int) -> np.ndarray:
        return self.arrays[i]


class Identity(BlindUNet):
    """D(y) = y."""

    def __init__(self):
        super().__init__(model_config("tiny"))

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        return y


def tiny(channels: int = 3) -> Denoiser:
    torch.manual_seed(0)
    return Denoiser(BlindUNet(model_config("tiny", channels=channels)))


def uint8_images(sizes: list[tuple[int, int]], channels: int = 3, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (h, w, channels), dtype=np.uint8) for h, w in sizes]


def noisy(x: torch.Tensor, sigma: float, seed: int, index: int) -> torch.Tensor:
    return x + sigma * image_noise(x.shape[1:], seed, [index])


def test_heldout_psnr_of_the_noisy_input_is_the_closed_form():
    clean = torch.rand(16, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    sigmas = (0.05, 0.1, 0.25, 1.0)
    scores = heldout_psnr(tiny(), clean, sigmas, seed=3)
    assert list(scores) == ["psnr", "psnr_input"]
    assert list(scores["psnr_input"]) == list(scores["psnr"]) == ["0.05", "0.1", "0.25", "1"]
    assert scores["psnr_input"]["0.1"] == psnr(clean + 0.1 * image_noise(clean.shape[1:], 3, range(16)), clean).mean().item()
    for s in sigmas:
        assert scores["psnr_input"][f"{s:g}"] == pytest.approx(-20 * math.log10(s), abs=0.2)
    identity = heldout_psnr(Denoiser(Identity()), clean, sigmas, seed=3)
    assert identity["psnr"] == identity["psnr_input"] == scores["psnr_input"]  # D(y) = y scores exactly the noisy input
    assert scores["psnr"] != scores["psnr_input"]
    for bad in ((0.1, 0.0), (float("nan"),), ()):
        with pytest.raises(ConfigError, match="positive finite"):
            heldout_psnr(tiny(), clean, bad)


def test_evaluate_and_report_on_images_of_two_sizes(tmp_path):
    images = Images(uint8_images([(20, 24), (13, 18), (20, 24), (13, 18), (20, 24)]))
    model = tiny()
    sigmas = (0.1, 0.2)
    result = denoise(model, images, sigmas, seed=7, batch_size=16, examples=4)
    assert result.stage == "denoise" and list(result.arrays) == ["examples"]
    metrics, examples = result.metrics, result.arrays["examples"]
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
    y0 = noisy(x0, 0.2, seed=7, index=0)
    centre = (..., slice(3, 16), slice(3, 21))
    assert np.allclose(examples["clean"][0], x0[0].permute(1, 2, 0)[3:16, 3:21].numpy())
    assert np.allclose(examples["noisy"][1, 0], y0[0].permute(1, 2, 0)[3:16, 3:21].numpy(), atol=1e-6)
    assert np.allclose(examples["denoised"][1, 0], model(y0)[centre][0].permute(1, 2, 0).numpy(), atol=1e-5)
    x1 = torch.from_numpy(images[1]).permute(2, 0, 1)[None].float() / 255
    assert np.allclose(examples["noisy"][0, 1], noisy(x1, 0.1, seed=7, index=1)[0].permute(1, 2, 0).numpy(), atol=1e-6)

    out = tmp_path / "report"
    result.save(out)
    assert sorted(p.name for p in out.iterdir()) == ["examples.npz", "metrics.json", "stage.json"]  # computing draws nothing
    assert draw_denoise(out) == [out / "denoised.png"]
    assert json.loads((out / "metrics.json").read_text()) == metrics
    with np.load(out / "examples.npz", allow_pickle=False) as saved:
        assert sorted(saved.files) == ["clean", "denoised", "noisy", "sigmas"]
        assert np.array_equal(saved["noisy"], examples["noisy"])
    with Image.open(out / "denoised.png") as png:
        assert png.format == "PNG" and png.size[0] > png.size[1]
    assert sorted(p.name for p in out.iterdir()) == ["denoised.png", "examples.npz", "metrics.json", "stage.json"]


def test_evaluation_does_not_depend_on_batch_size_or_order_of_sizes():
    arrays = uint8_images([(16, 16), (12, 20), (16, 16), (12, 20)], channels=1, seed=1)
    model = tiny(channels=1)
    one = denoise(model, Images(arrays), (0.1,), batch_size=1, examples=1).metrics
    many = denoise(model, Images(arrays), (0.1,), batch_size=16, examples=1).metrics
    for k, v in one["sigma"]["0.1"].items():
        assert many["sigma"]["0.1"][k] == pytest.approx(v, abs=1e-6)
    first = denoise(model, Images(arrays), (0.1,), max_images=1, examples=3)
    first, ex = first.metrics, first.arrays["examples"]
    assert first["images"] == 1 and first["padded"] == 0 and first["padding"] == "none"
    assert ex["clean"].shape == (1, 16, 16, 1)


def test_grayscale_examples_draw(tmp_path):
    arrays = uint8_images([(16, 16)] * 2, channels=1)
    denoise(tiny(channels=1), Images(arrays), (0.1, 0.2, 0.4)).save(tmp_path)
    draw_denoise(tmp_path)
    with Image.open(tmp_path / "denoised.png") as png:
        png.verify()


def test_a_channel_mismatch_is_refused_naming_both_counts():
    images = Images(uint8_images([(16, 16)], channels=1))
    with pytest.raises(DataError, match=r"1-channel.*3-channel"):
        denoise(tiny(channels=3), images, (0.1,))
