import math

import pytest
import torch

from denoscope import rng


def test_noise_of_an_image_does_not_depend_on_its_batch():
    together = rng.image_noise((3, 8, 8), seed=5, images=[0, 1, 2, 3])
    alone = torch.cat([rng.image_noise((3, 8, 8), seed=5, images=[k]) for k in range(4)])
    assert torch.equal(together, alone)
    assert torch.equal(rng.image_noise((3, 8, 8), seed=5, images=[2, 3]), together[2:])
    assert not torch.equal(rng.image_noise((3, 8, 8), seed=6, images=[0, 1, 2, 3]), together)
    assert not torch.equal(rng.image_noise((3, 8, 8), seed=5, images=[0], draw=1), together[:1])
    assert not torch.allclose(together[0], together[1])


def test_keys_differ_by_every_part_and_order():
    keys = {int(rng.key(s, a, b)) for s in range(4) for a in range(8) for b in range(8)}
    assert len(keys) == 4 * 8 * 8
    assert int(rng.key(0, 1, 2)) != int(rng.key(0, 2, 1))
    parts = torch.arange(6)
    assert torch.equal(rng.key(3, parts, 7), torch.stack([rng.key(3, int(p), 7) for p in parts]))


def test_normal_has_the_moments_of_a_standard_normal():
    z = rng.normal(rng.key(0, torch.arange(200)), (50, 50)).double()
    n = z.numel()
    assert abs(z.mean().item()) < 4 / math.sqrt(n)
    assert z.var().item() == pytest.approx(1.0, abs=4 * math.sqrt(2 / n))
    assert (z**4).mean().item() == pytest.approx(3.0, abs=0.05)
    for t in (0.5, 1.0, 2.0):  # the CDF at a few points
        assert (z <= t).double().mean().item() == pytest.approx(0.5 * (1 + math.erf(t / math.sqrt(2))), abs=0.003)
    flat = z.reshape(200, -1)
    neighbours = (flat[:, 1:] * flat[:, :-1]).mean().item()
    images = (flat[1:] * flat[:-1]).mean().item()
    assert abs(neighbours) < 0.01 and abs(images) < 0.01


def test_uniform_is_uniform_on_the_open_interval():
    u = rng.uniform(rng.key(1, torch.arange(100)), (1000,))
    assert 0 < u.min() and u.max() < 1
    for t in (0.1, 0.5, 0.9):
        assert (u <= t).float().mean().item() == pytest.approx(t, abs=0.005)


def test_streams_are_independent():
    k = rng.key(0, torch.arange(10000))
    a, b = rng.uniform(k, stream="sigma"), rng.uniform(k, stream="uniform")
    assert abs(torch.corrcoef(torch.stack([a, b]))[0, 1].item()) < 0.03


def test_choices_are_one_generator_per_seed_and_purpose():
    """Same (seed, purpose) → same choice; another purpose or seed → another stream; subsets sorted and unique."""
    import numpy as np

    a = rng.choose(1000, 50, seed=3, purpose="subset")
    assert np.array_equal(a, rng.choose(1000, 50, seed=3, purpose="subset"))
    assert np.array_equal(a, np.sort(a)) and len(np.unique(a)) == 50 and a.max() < 1000
    assert not np.array_equal(a, rng.choose(1000, 50, seed=3, purpose="pairs"))
    assert not np.array_equal(a, rng.choose(1000, 50, seed=4, purpose="subset"))
    assert np.array_equal(rng.choose(7, 50, seed=0, purpose="subset"), np.arange(7))
    streams = {tuple(rng.generator(s, p).integers(1 << 62, size=2)) for s in range(3) for p in rng.PURPOSES}
    assert len(streams) == 3 * len(rng.PURPOSES)
    assert rng.seed_for(1, "kmeans") == rng.seed_for(1, "kmeans") != rng.seed_for(1, "tsne")
    with pytest.raises(KeyError):
        rng.generator(0, "no-such-purpose")
