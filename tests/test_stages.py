"""The sampling stages as a Python API: compute returns a StageResult and writes nothing, the inputs are chosen by the
library (mean start, pairs, indices), and figures are drawn from a saved folder's files alone."""

import json

import numpy as np
import pytest
import torch

from denoscope.config import ModelConfig
from denoscope.data import Transform, open_source, stack_images
from denoscope.data.dataset import mean_image
from denoscope.denoiser import Denoiser
from denoscope.errors import ConfigError, DataError
from denoscope.nn.unet import BlindUNet
from denoscope.reporting.sampling_figures import draw_distance, draw_inverse, draw_reconstruct, draw_sample
from denoscope.representation import default_sigmas
from denoscope.sampling.engine import DiffusionConfig
from denoscope.sampling.guidance import GuidanceConfig
from denoscope.sampling.inputs import choose_pairs, start_image, target_sigmas
from denoscope.sampling.stages import distance, inverse, reconstruct, sample

CONFIG = ModelConfig(widths=(8, 16), mid_width=16, enc_depth=2, mid_depth=1, dec_depth=2)
DATA = "synthetic:shapes?n=12&size=16&seed=1"
FAST = DiffusionConfig(h0=0.05, beta=0.05, max_steps=3)
GRAY = torch.full((3, 16, 16), 0.5)


@pytest.fixture(scope="module")
def d() -> Denoiser:
    torch.manual_seed(0)
    return Denoiser(BlindUNet(CONFIG))


def test_sample_returns_its_numbers_writes_nothing_and_each_image_is_its_own(d, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    three = sample(d, 3, seed=4, config=FAST, mean=GRAY)
    two = sample(d, 2, seed=4, config=FAST, mean=GRAY)
    assert list(tmp_path.iterdir()) == []
    assert three.stage == "sample" and three.metrics["images"] == 3 and three.metrics["diffusion"]["max_steps"] == 3
    np.testing.assert_array_equal(three.arrays["samples"]["samples"][:2], two.arrays["samples"]["samples"])  # keyed by (seed, image)
    assert not np.array_equal(sample(d, 2, seed=5, config=FAST, mean=GRAY).arrays["samples"]["samples"], two.arrays["samples"]["samples"])
    with pytest.raises(ConfigError, match="n must be at least 1"):
        sample(d, 0, mean=GRAY)


def test_the_start_is_the_given_image_a_sources_mean_or_gray_and_else_an_error(d):
    assert start_image(d, GRAY)[0] is GRAY
    mean, where = start_image(d, DATA)
    torch.testing.assert_close(mean, mean_image(open_source(DATA)))
    assert DATA in where
    with pytest.raises(DataError, match="cannot find a mean image"):
        start_image(d)  # an in-memory network has no run to take the training data from
    gray, where = start_image(d, None, (4, 5))
    assert gray.shape == (3, 4, 5) and bool((gray == 0.5).all()) and "flat gray" in where
    assert target_sigmas(d) == default_sigmas(1.0)[0]


def test_pairs_are_distinct_seeded_and_refused_when_impossible():
    images = open_source(DATA)
    pairs = choose_pairs(images, 20, seed=3)
    assert len(pairs) == 20 and all(i != j and 0 <= i < 12 and 0 <= j < 12 for i, j in pairs)
    assert pairs == choose_pairs(images, 20, seed=3) and pairs != choose_pairs(images, 20, seed=4)
    with pytest.raises(ConfigError, match="pairs must be at least 1"):
        choose_pairs(images, 0, seed=0)
    with pytest.raises(ConfigError, match="pairs need at least two"):
        choose_pairs(open_source("synthetic:shapes?n=1&size=16"), 1, seed=0)


def test_inverse_solves_the_given_images_and_its_figure_is_drawn_from_the_files(d, tmp_path):
    result = inverse(d, DATA, task="box", indices=[5, 2], config=FAST, mean=GRAY)
    assert result.metrics["indices"] == [5, 2]
    x = stack_images(open_source(DATA), [5, 2], Transform())
    np.testing.assert_allclose(result.arrays["inverse"]["original"], x.permute(0, 2, 3, 1).numpy(), atol=1e-6)
    assert len(inverse(d, DATA, n=3, config=FAST, mean=GRAY).metrics["indices"]) == 3
    with pytest.raises(ConfigError, match="index 12 is outside"):
        inverse(d, DATA, indices=[12], mean=GRAY)
    result.save(tmp_path / "i")
    assert draw_inverse(tmp_path / "i") == [tmp_path / "i" / "inverse.png"]


def test_reconstruct_takes_images_or_a_rep_never_both_and_names_its_targets(d):
    fast = dict(n=2, noise_draws=1, config=FAST, guidance=GuidanceConfig(max_iters=1), mean=GRAY)
    for given in ({}, {"images": DATA, "index": [1], "rep": "rep", "cluster": 0}):
        with pytest.raises(ConfigError, match="either images with index"):
            reconstruct(d, **given, **fast)
    result = reconstruct(d, images=DATA, index=[4, 1], baselines=2, **fast)
    assert [t["image"] for t in result.metrics["targets"]] == [4, 1] and result.metrics["targets"][0]["label"] == f"{DATA}[4]"
    a = result.arrays["reconstruct"]
    assert a["samples"].shape == (4, 16, 16, 3) and a["targets"].shape == (2, 16, 16, 3) and len(a["unguided"]) == len(a["random"]) == 2
    assert "assessment" in result.metrics and "assessment" not in reconstruct(d, images=DATA, index=[4], baselines=0, **fast).metrics


def test_distance_measures_the_given_pairs(d):
    result = distance(d, DATA, pairs=[(0, 3), (3, 7)], n=1, levels=2, noise_draws=1, config=FAST, guidance=GuidanceConfig(max_iters=1), mean=GRAY)
    assert result.metrics["image_pairs"] == [[0, 3], [3, 7]] and result.metrics["pairs"] == 2 and len(result.arrays["distance"]["d2"]) == 2


def saved(folder, name, metrics, **arrays):
    folder.mkdir()
    (folder / "metrics.json").write_text(json.dumps(metrics))
    np.savez(folder / f"{name}.npz", **arrays)
    return folder


def test_figures_are_drawn_from_saved_files_alone(tmp_path):
    pictures = np.random.default_rng(0).random((4, 8, 8, 3))
    drawn = draw_sample(saved(tmp_path / "s", "samples", {}, samples=pictures))
    assert drawn == [tmp_path / "s" / "samples.png"] and drawn[0].stat().st_size > 0
    rec = dict(samples=pictures, sigma_before=np.array([0.5, 0.4]), sigma_after=np.array([0.45, 0.3]))
    with_images = saved(tmp_path / "r", "reconstruct", {"per_target": 2}, targets=pictures[:2], **rec)
    assert [p.name for p in draw_reconstruct(with_images)] == ["reconstruct.png", "panels.png", "sigma_match.png"]
    centroids = saved(tmp_path / "c", "reconstruct", {"per_target": 2}, targets=np.zeros(0), **rec)
    assert [p.name for p in draw_reconstruct(centroids)] == ["reconstruct.png", "sigma_match.png"]
    assert not (centroids / "panels.png").exists()
    dist = saved(tmp_path / "d", "distance", {"A": 1.0, "B": 2.0}, phi_distance2=np.array([1.0, 2.0]), d2=np.array([1.5, 3.0]))
    assert draw_distance(dist) == [dist / "distance.png"] and (dist / "distance.png").exists()


def test_phi_of_one_use_is_its_own_noise_average_apart_from_the_others(d):
    from denoscope import rng

    x = stack_images(open_source(DATA), [0, 1], Transform())
    use = (rng.NOISE_USES["phi-error"],)
    z = rng.normal(rng.key(3, *use, torch.tensor([[5], [6]]), torch.arange(2)[None, :]), x.shape[1:])
    want = torch.stack([d.mid_mean(x + 0.3 * z[:, k]) for k in range(2)]).mean(0)
    with torch.no_grad():
        got = d.phi(x, (0.3,), draws=2, seed=3, ids=[5, 6], use=use)[:, 0]
        torch.testing.assert_close(got, want)
        assert not torch.allclose(got, d.phi(x, (0.3,), draws=2, seed=3, ids=[5, 6])[:, 0])
