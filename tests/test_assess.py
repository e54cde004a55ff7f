import numpy as np
import pytest
import torch

from denoscope.errors import ConfigError
from denoscope.sampling.assess import (Images, assess, blurred_psnr, colour_histograms, fit_probe, histogram_distance,
                                       mean_pairwise_rms, relative_phi_distance)


def planted(seed: int = 0):
    """Two targets of classes 0 and 1; guided samples = the target's layout plus fine noise, φ near the target's;
    unguided samples and random images: unrelated images and φ's; a probe trained on φ's that separate the classes."""
    g = torch.Generator().manual_seed(seed)
    targets = torch.rand(2, 3, 32, 32, generator=g)
    phi_t = torch.rand(2, 16, generator=g) + torch.eye(2, 16) * 3
    guided = (targets.repeat_interleave(3, 0) + 0.15 * torch.randn(6, 3, 32, 32, generator=g)).clamp(0, 1)
    phi_g = phi_t.repeat_interleave(3, 0) + 0.05 * torch.rand(6, 16, generator=g)
    other = lambda n: Images(torch.rand(n, 3, 32, 32, generator=g), torch.rand(n, 16, generator=g) + 0.5)  # noqa: E731
    train_phi = torch.cat([phi_t[0] + 0.3 * torch.randn(20, 16, generator=g), phi_t[1] + 0.3 * torch.randn(20, 16, generator=g),
                           torch.rand(20, 16, generator=g) + 0.5])  # a third class where the unrelated φ's lie
    probe = fit_probe(train_phi.numpy(), np.repeat([0, 1, 2], 20))
    return Images(targets, phi_t, np.array([0, 1])), Images(guided, phi_g), other(5), other(7), probe


def test_measures_have_their_known_values():
    x = torch.zeros(1, 3, 32, 32)
    x[..., :16, :] = 1.0  # white top half, black bottom half
    assert relative_phi_distance(torch.tensor([[3.0, 4.0]]), torch.tensor([0.0, 0.0]) + torch.tensor([3.0, 0.0])).tolist() == [pytest.approx(4 / 3)]
    assert blurred_psnr(x, x[0]).tolist() == [np.inf]
    flipped = x.flip(2)
    assert blurred_psnr(flipped, x[0]).tolist() == [pytest.approx(0.0)]  # every block differs by 1: MSE 1, PSNR 0 dB
    h = colour_histograms(x)
    assert h.sum() == pytest.approx(1.0) and h[0, 0] == 0.5 and h[0, -1] == 0.5
    assert histogram_distance(flipped, x[0]).tolist() == [0.0]  # the same palette, wherever it lies
    assert histogram_distance(1 - torch.zeros(1, 3, 32, 32), torch.zeros(3, 32, 32)).tolist() == [1.0]
    assert mean_pairwise_rms(torch.stack([x[0], flipped[0], x[0]])) == pytest.approx(2 / 3)


def test_planted_reconstructions_beat_both_baselines_on_every_measure():
    targets, guided, unguided, random, probe = planted()
    out = assess(targets, guided, 3, unguided, random, probe=probe, train=random.x)
    assert set(out["measures"]) == {"phi_distance", "blurred_psnr", "colour_histogram_distance", "rms_to_target", "class_agreement"}
    for name, m in out["measures"].items():
        assert len(m["guided"]) == len(m["unguided"]) == len(m["random"]) == 2
        assert m["guided_closer_than_both"] == 1.0, name
        assert m["median"]["guided"] != m["median"]["unguided"] and m["median"]["guided"] != m["median"]["random"]
    assert out["measures"]["class_agreement"]["median"]["guided"] == 1.0
    s = out["spread"]
    assert len(s["samples_pairwise_rms"]) == 2 and s["samples_pairwise_rms_median"] > 0
    assert np.all(np.array(s["rms_to_target"]) < np.array(s["rms_to_nearest_train"]))  # these samples copy their target


def test_unrelated_samples_do_not_beat_chance():
    targets, _, unguided, random, _ = planted()
    g = torch.Generator().manual_seed(9)
    unrelated = Images(torch.rand(6, 3, 32, 32, generator=g), torch.rand(6, 16, generator=g) + 0.5)
    out = assess(targets, unrelated, 3, unguided, random)
    assert "class_agreement" not in out["measures"]
    assert out["measures"]["phi_distance"]["guided_closer_than_both"] < 1.0


def test_mismatched_counts_are_refused():
    targets, guided, unguided, random, _ = planted()
    with pytest.raises(ConfigError):
        assess(targets, guided, 2, unguided, random)
