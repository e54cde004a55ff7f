import numpy as np
import pytest

from denoscope.analysis.channels import channel_statistics, components_for_variance, spatial_sparsity
from denoscope.analysis.selectivity import bimodality_coefficient, selectivity
from denoscope.analysis.sparsity import participation_ratio, sparsity
from denoscope.analysis.stability import cosine, stability
from denoscope.errors import ConfigError

SIGMAS = np.array([0.0, 0.1, 0.3, 0.5, 0.8, 1.2])


def test_participation_ratio_of_known_vectors():
    d = 16
    assert participation_ratio(np.eye(d)[3]) == pytest.approx(1 / d)
    assert participation_ratio(np.full(d, 0.7)) == pytest.approx(1.0)
    for k in (2, 5, 11):
        v = np.zeros(d)
        v[np.random.default_rng(k).choice(d, k, replace=False)] = 2.5
        assert participation_ratio(v) == pytest.approx(k / d)
    v = np.random.default_rng(0).random((4, d))
    assert np.allclose(participation_ratio(v), participation_ratio(37.0 * v))
    assert np.allclose(participation_ratio(v.T, axis=0), participation_ratio(v, axis=1))
    assert np.isnan(participation_ratio(np.zeros(d)))


def test_participation_ratio_takes_the_l1_norm_of_signed_vectors():
    # block inputs may be negative (before a ReLU, or the image itself): ‖v‖₁ sums |v|, not v
    assert participation_ratio(np.array([1.0, -1.0, 0.0, 0.0])) == pytest.approx(0.5)
    assert participation_ratio(np.array([2.0, -1.0, -1.0])) == pytest.approx(16 / (3 * 6))
    v = np.random.default_rng(5).standard_normal((3, 9))
    assert np.allclose(participation_ratio(v), participation_ratio(np.abs(v)))


def test_sparsity_reads_each_block_at_the_nearest_sigma():
    n, c = 10, 8
    dense = np.ones((n, SIGMAS.size, c))
    sparse = dense.copy()
    sparse[:, 3, :] = np.eye(c)[np.arange(n) % c]  # one-hot at σ = 0.5 only
    sparse[0, 3, :] = 0  # one image whose ā is zero at that σ
    metrics, arrays = sparsity({"mid": sparse, "mid.in": dense}, SIGMAS, sigma=0.45, bins=10)
    assert metrics["sigma"] == 0.5
    assert metrics["pr_median"] == {"mid": pytest.approx(1 / c), "mid.in": pytest.approx(1.0)}
    assert metrics["zero_images"] == {"mid": 1, "mid.in": 0}
    assert arrays["counts/mid"].sum() == n - 1 and arrays["counts/mid"][1] == n - 1  # 1/8 falls in (0.1, 0.2]
    assert arrays["counts/mid.in"][-1] == n and arrays["bin_edges"][-1] == 1.0


def test_cosine_stability_of_a_fixed_direction_is_one():
    rng = np.random.default_rng(1)
    v = rng.random((5, 1, 12))
    means = {"mid": v * np.linspace(0.5, 3.0, SIGMAS.size)[None, :, None]}  # amplitude grows, direction holds
    metrics, arrays = stability(means, SIGMAS, sigma_ref=0.5)
    assert np.allclose(arrays["cosine/mid"], 1.0) and np.allclose(arrays["cosine_std/mid"], 0.0)
    assert metrics["stability"]["mid"] == pytest.approx(1.0)


def test_a_direction_rotating_with_sigma_gives_the_known_cosines():
    theta = np.linspace(0, np.pi / 2, SIGMAS.size)
    rotating = np.stack([np.cos(theta), np.sin(theta), np.zeros_like(theta)], axis=-1)[None].repeat(4, axis=0)
    fixed = np.abs(rotating[:, 3:4, :]).repeat(SIGMAS.size, axis=1)
    fixed[:, 0, :] = 0  # ā collapses at σ = 0: that point is undefined and left out
    metrics, arrays = stability({"enc3": rotating, "mid": fixed}, SIGMAS, sigma_ref=0.55)
    assert metrics["sigma_ref"] == 0.5
    assert np.allclose(arrays["cosine/enc3"], np.cos(theta - theta[3]))
    assert np.isnan(arrays["cosine/mid"][0]) and np.allclose(arrays["cosine/mid"][1:], 1.0)
    kept = [1, 2, 4, 5]  # σ₂ ≥ 0.1, σ₁ = 0.5 itself left out
    assert metrics["sigma_levels"] == SIGMAS[kept].tolist()
    assert metrics["stability"]["enc3"] == pytest.approx(np.cos(theta[kept] - theta[3]).mean())
    assert metrics["most_stable_block"] == "mid"
    assert cosine(np.array([1.0, 0.0]), np.array([1.0, 1.0])) == pytest.approx(np.sqrt(0.5))


def test_a_channel_as_large_on_every_image_has_a_raw_cosine_near_one_and_its_correlation_tells():
    rng = np.random.default_rng(3)
    n = 200
    steady = 10 + rng.standard_normal((n, SIGMAS.size))  # about 10 on every image, the rest redrawn at each σ
    tracking = np.abs(rng.standard_normal((n, 1))) * np.ones((1, SIGMAS.size)) + 0.1 * rng.random((n, SIGMAS.size))
    _, arrays = stability({"mid": np.stack([steady, tracking], axis=-1)}, SIGMAS, 0.5)
    assert arrays["channel_cosine/mid"][0] > 0.98 and abs(arrays["channel_correlation/mid"][0]) < 0.2
    assert arrays["channel_correlation/mid"][1] > 0.95


def channels_with_pr(n: int, prs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """An n×C φ whose channel i is equal non-zero on round(prs[i]·n) random images: PR = that count / n."""
    phi = np.zeros((n, prs.size))
    for i, p in enumerate(prs):
        phi[rng.choice(n, max(1, round(p * n)), replace=False), i] = rng.uniform(0.5, 2.0)
    return phi


def test_bimodality_is_high_for_two_clusters_of_channel_pr_and_low_for_one():
    rng = np.random.default_rng(2)
    two = np.concatenate([rng.uniform(0.04, 0.08, 60), rng.uniform(0.85, 0.95, 60)])
    one = np.clip(rng.normal(0.5, 0.08, 120), 0.05, 1)
    m_two, a_two = selectivity(channels_with_pr(400, two, rng))
    m_one, _ = selectivity(channels_with_pr(400, one, rng))
    assert m_two["bimodal"] and m_two["selectivity_bimodality"] > 0.8
    assert not m_one["bimodal"] and m_one["selectivity_bimodality"] < 0.45
    assert 0.08 < m_two["gmm_split"] < 0.85 and m_two["selective_fraction"] == pytest.approx(0.5)
    assert m_two["gmm_means"][0] == pytest.approx(0.06, abs=0.01) and m_two["gmm_weights"][0] == pytest.approx(0.5, abs=0.01)
    assert a_two["counts"].sum() == 120
    assert bimodality_coefficient(rng.normal(size=5000)) == pytest.approx(1 / 3, abs=0.03)


def test_top_images_of_a_channel_firing_only_on_two_images_are_those_images():
    rng = np.random.default_rng(3)
    phi = rng.uniform(0.5, 1.5, (20, 6))
    phi[:, 2] = 0
    phi[[3, 7], 2] = [1.0, 2.0]
    phi[:, 5] = 0
    phi[0, 5] = 1e-9  # a near-dead channel: ~0 on every image
    metrics, arrays = selectivity(phi, n_top=2, k=2, example_image=3, n_example=1)
    assert metrics["near_dead_channels"] == 1 and metrics["near_dead_channel_ids"] == [5] and np.isnan(arrays["channel_pr"][5])
    assert metrics["top_channels"][0] == 2 and 5 not in metrics["top_channels"]
    assert metrics["top_channel_pr"][0] == pytest.approx(participation_ratio(np.array([1.0, 2.0])) * 2 / 20)
    assert metrics["top_images"]["2"] == [7, 3]
    assert metrics["example_image"] == 3 and metrics["example_channels"] == [2]
    assert arrays["relative_activation"][2] == pytest.approx(1.0 / (3.0 / 20))


def test_kurtosis_orders_gaussian_below_heavy_tailed_marginals():
    rng = np.random.default_rng(4)
    n = 4000
    phi = np.stack([rng.uniform(0, 1, n), 5 + rng.normal(size=n), 5 + rng.laplace(size=n), 5 + rng.standard_t(5, n)], 1)
    maps = rng.random((3, 4, 2, 2))
    _, arrays = channel_statistics(phi, maps)
    k = arrays["kurtosis"]
    assert k[0] == pytest.approx(-1.2, abs=0.2) and k[1] == pytest.approx(0.0, abs=0.3) and k[2] == pytest.approx(3.0, abs=1.0)
    assert k[0] < k[1] < k[2] and k[1] < k[3]


def test_rank_one_maps_need_one_component_and_a_one_pixel_map_has_pr_one_over_hw():
    rng = np.random.default_rng(5)
    h, w = 4, 5
    pattern = rng.random((2, h, w))
    maps = rng.random((8, 2, 1, 1)) * pattern[None]  # amplitude × fixed pattern: rank one
    assert components_for_variance(maps).tolist() == [1.0, 1.0]
    assert components_for_variance(rng.normal(size=(8, 2, h, w))).min() > 1
    assert np.isnan(components_for_variance(np.ones((3, 1, h, w)) * 0.1)).all()  # no variance across images
    one_pixel = np.zeros((4, 2, h, w))
    one_pixel[np.arange(3), 0, np.arange(3), np.arange(3)] = [1.0, 4.0, 0.2]
    one_pixel[:, 1] = 2.0
    assert spatial_sparsity(one_pixel).tolist() == pytest.approx([1 / (h * w), 1.0])  # the all-zero map is left out
    one_pixel[1, 0, 3, 3] = 4.0  # two equal pixels on one image: mean of 1, 2 and 1 pixels over h·w
    assert spatial_sparsity(one_pixel)[0] == pytest.approx(4 / 3 / (h * w))


def test_selective_channels_that_are_spatially_sparse_correlate_positively():
    rng = np.random.default_rng(6)
    n, c, h, w = 40, 8, 4, 4
    phi = channels_with_pr(n, np.linspace(0.1, 1.0, c), rng)
    maps = np.zeros((5, c, h, w))
    for i in range(c):
        maps[:, i].reshape(5, -1)[:, : 2 * i + 1] = rng.uniform(0.5, 1.5, (5, 1))  # channel i covers 2i+1 pixels
    metrics, arrays = channel_statistics(phi, maps)
    assert metrics["spatial_sparsity_vs_selectivity"]["spearman"] == pytest.approx(1.0)
    assert metrics["spatial_sparsity_vs_selectivity"]["pearson"] > 0.9
    assert metrics["spatial_sparsity_vs_selectivity"]["channels"] == c
    assert np.allclose(arrays["spatial_sparsity"], (2 * np.arange(c) + 1) / (h * w))
    assert metrics["components_median"] == 1.0


def test_bad_arguments_raise_config_error():
    good = np.ones((3, SIGMAS.size, 4))
    with pytest.raises(ConfigError, match="means"):
        sparsity({}, SIGMAS, 0.5)
    with pytest.raises(ConfigError, match="len\\(sigmas\\)"):
        stability({"mid": good}, SIGMAS[:-1])
    with pytest.raises(ConfigError, match="sigmas"):
        stability({"mid": good[:, :0]}, np.array([]))
    with pytest.raises(ConfigError, match="sigma"):
        sparsity({"mid": good}, SIGMAS, float("nan"))
    with pytest.raises(ConfigError, match="participation_ratio"):
        participation_ratio(np.zeros((3, 0)))
    with pytest.raises(ConfigError, match="phi"):
        selectivity(np.ones(5))
    with pytest.raises(ConfigError, match="example_image"):
        selectivity(np.random.default_rng(0).random((5, 6)), example_image=5)
    with pytest.raises(ConfigError, match="maps"):
        channel_statistics(np.ones((5, 4)), np.ones((5, 3, 2, 2)))
    with pytest.raises(ConfigError, match="variance"):
        channel_statistics(np.random.default_rng(0).random((5, 4)), np.ones((5, 4, 2, 2)), variance=0.0)
