import json
import math

import faiss
import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from denoscope.analysis.clusters import clusters, column_permuted, kmeans, purity, separation
from denoscope.analysis.factors import factors
from denoscope.analysis.neighbours import neighbours
from denoscope.analysis.probes import probes
from denoscope.analysis.subspaces import subspaces
from denoscope.errors import ConfigError


@pytest.fixture(autouse=True)
def one_thread():
    """The test machine's cores are busy: OpenMP spin-waiting makes tiny t-SNE and faiss runs take seconds."""
    threads = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    with threadpool_limits(1):
        yield
    faiss.omp_set_num_threads(threads)


def planted(n_per: int, centres: np.ndarray, std: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian blobs around `centres` (non-negative like φ), and their labels."""
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(len(centres)), n_per)
    x = centres[labels] + std * rng.standard_normal((labels.size, centres.shape[1]))
    return np.abs(x), labels


def corner_centres(g: int, c: int, scale: float) -> np.ndarray:
    centres = np.zeros((g, c))
    centres[np.arange(g), np.arange(g)] = scale
    return centres


def test_separation_matches_a_hand_computation_on_the_joining_line():
    # Centroids (1, 0) and (12, 0): distance 11. Along x, A's members give variance (1+1+0+0)/4 = 0.5,
    # B's (4+4+0+0)/4 = 2; the spread along y must not count.
    a = [(0, 0), (2, 0), (1, 5), (1, -5)]
    b = [(10, 0), (14, 0), (12, 3), (12, -3)]
    metrics, arrays = separation(np.array(a + b, float), np.array([0] * 4 + [1] * 4))
    expected = 11 / math.sqrt((0.5 + 2) / 2)
    assert arrays["separation"][0, 1] == pytest.approx(expected) == arrays["separation"][1, 0]
    assert arrays["distance"][0, 1] == pytest.approx(11)
    assert arrays["spread"][0, 1] == pytest.approx(math.sqrt(1.25))
    assert metrics == {"n_groups": 2, "n_pairs": 1, "n_adjacent_pairs": 1, "n_random_pairs": 1, "pairs_separated": 1.0,
                       "random_pairs_separated": 1.0, "adjacent_pairs_separated": 1.0, "median_separation": pytest.approx(expected)}


def test_adjacent_pairs_join_each_group_to_its_nearest_centroid():
    # 1-D groups with centroids 0, 1, 100 and unit variance: ratios 1 (A–B), 100 (A–C), 99 (B–C).
    x = np.array([-1.0, 1.0, 0.0, 2.0, 99.0, 101.0])[:, None]
    metrics, arrays = separation(x, np.array([0, 0, 1, 1, 2, 2]))
    assert arrays["separation"][np.triu_indices(3, 1)] == pytest.approx([1, 100, 99])
    assert arrays["adjacent"].tolist() == [1, 0, 1]
    assert metrics["pairs_separated"] == pytest.approx(2 / 3)
    assert metrics["n_adjacent_pairs"] == 2 and metrics["adjacent_pairs_separated"] == 0.5


def test_kmeans_halves_of_one_gaussian_already_pass_the_two_std_criterion():
    # Each half of N(0, 1) has mean ±√(2/π) and variance 1 − 2/π: ratio 2√(2/π)/√(1 − 2/π) ≈ 2.648.
    x = np.random.default_rng(0).standard_normal((20000, 1))
    metrics, arrays = separation(x, kmeans(x, 2, seed=0)[0])
    expected = 2 * math.sqrt(2 / math.pi) / math.sqrt(1 - 2 / math.pi)
    assert arrays["separation"][0, 1] == pytest.approx(expected, rel=0.02) and metrics["pairs_separated"] == 1.0


def test_the_null_keeps_every_channel_marginal_and_breaks_their_joint_structure():
    x, _ = planted(30, corner_centres(3, 5, 8.0), 0.5)
    shuffled = column_permuted(x, seed=0)
    assert np.array_equal(np.sort(shuffled, axis=0), np.sort(x, axis=0))
    assert not np.array_equal(shuffled, x)
    planted_pairs = np.triu_indices(3, 1)  # channels 0–2 carry the clusters: |r| ≈ 0.5 between each two

    def joint(a: np.ndarray) -> float:
        return float(np.abs(np.corrcoef(a[:, :3].T)[planted_pairs]).mean())

    assert np.mean([joint(column_permuted(x, seed=s)) for s in range(5)]) < 0.2 < joint(x)  # over seeds, not one lucky draw


def test_separation_of_far_and_of_overlapping_gaussian_clusters():
    far, labels = planted(40, corner_centres(5, 12, 10.0), 1.0)
    m_far, a_far = separation(far, labels)
    assert m_far["pairs_separated"] == 1.0 and m_far["adjacent_pairs_separated"] == 1.0
    assert a_far["separation"][np.triu_indices(5, 1)].min() > 5
    near, labels = planted(40, corner_centres(5, 12, 0.3), 1.0)
    m_near, _ = separation(near, labels)
    assert m_near["pairs_separated"] <= 0.1 and m_near["adjacent_pairs_separated"] <= 0.2


@pytest.mark.parametrize("faiss_above", [2e6, 0])
def test_kmeans_recovers_planted_clusters(faiss_above):
    x, labels = planted(40, corner_centres(4, 8, 6.0), 0.5)
    assignment, centroids = kmeans(x, 4, seed=0, faiss_above=faiss_above)
    assert centroids.shape == (4, 8)
    metrics, _ = clusters(x, labels, ks=(4,), tsne_clusters=0, faiss_above=faiss_above)
    m = metrics["k"]["4"]
    assert m["ari"] == pytest.approx(1.0) and m["nmi"] == pytest.approx(1.0) and m["purity"] == 1.0
    assert (assignment[:, None] == assignment[None, :]).tolist() == (labels[:, None] == labels[None, :]).tolist()


def test_clusters_reports_every_key_json_ready_and_samples_nearest_first():
    x, labels = planted(20, corner_centres(3, 6, 8.0), 0.5, seed=1)
    metrics, arrays = clusters(x, labels, ks=(3, 5), seed=0, tsne_clusters=2, tsne_points=6, samples_per_cluster=4)
    json.dumps(metrics)
    assert set(metrics["k"]) == {"3", "5"}
    base = {"n_clusters", "smallest_cluster", "cluster_pairs_separated", "random_cluster_pairs_separated", "n_random_pairs",
            "adjacent_cluster_pairs_separated", "median_separation"}
    assert set(metrics["k"]["3"]) == base | {"null_cluster_pairs_separated", "null_random_cluster_pairs_separated",
                                             "null_adjacent_cluster_pairs_separated", "null_median_separation", "nmi", "ari", "purity"}
    # planted clusters stand much further apart than K-means cells of the structureless null
    assert metrics["k"]["3"]["median_separation"] > 3 * metrics["k"]["3"]["null_median_separation"]
    assert arrays["k3/null_separation"].shape == (3, 3)
    assert metrics["class_pairs_separated"] == 1.0 and metrics["adjacent_class_pairs_separated"] == 1.0
    assert metrics["k"]["3"]["cluster_pairs_separated"] == 1.0
    assert arrays["k3/tsne"].shape == (12, 2) and set(arrays["k3/tsne_group"]) <= set(range(3))
    assert arrays["class/separation"].shape == (3, 3)
    samples, centroids = arrays["k3/samples"], arrays["k3/centroids"]
    assert samples.shape == (3, 4)
    for c, row in enumerate(samples):
        d = np.linalg.norm(x[row] - centroids[c], axis=1)
        assert (np.diff(d) >= 0).all() and (arrays["k3/assignment"][row] == c).all()
        members = np.flatnonzero(arrays["k3/assignment"] == c)
        assert d[0] == pytest.approx(np.linalg.norm(x[members] - centroids[c], axis=1).min())
    unlabelled, _ = clusters(x, None, ks=(3,), tsne_clusters=0, null=False)
    assert set(unlabelled) == {"n_images", "k"}
    assert set(unlabelled["k"]["3"]) == base


def test_probes_read_separable_classes_and_only_chance_from_random_labels():
    rng = np.random.default_rng(0)
    phi, labels = planted(60, corner_centres(3, 10, 5.0), 0.5)
    pixels = rng.random((phi.shape[0], 30))  # carries nothing about the labels
    m, arrays = probes(phi, pixels, labels, test_size=0.5, seed=0)
    assert m["knn_accuracy"] == 1.0 and m["linear_probe_accuracy"] == 1.0
    assert m["pixel_knn_accuracy"] < 0.6 and m["pixel_linear_probe_accuracy"] < 0.6
    assert m["chance"] == pytest.approx(1 / 3) and m["n_train"] == m["n_test"] == 90
    assert np.bincount(labels[arrays["test"]]).tolist() == [30, 30, 30]
    noise = rng.random((600, 10))
    random_labels = rng.integers(0, 2, 600)
    m, _ = probes(noise, noise, random_labels, test_size=0.5, seed=1)
    for key in ("knn_accuracy", "linear_probe_accuracy"):
        assert abs(m[key] - 0.5) < 0.1, (key, m[key])
    assert abs(m["chance"] - 0.5) < 0.05


def test_a_planted_near_duplicate_is_the_first_cosine_neighbour():
    rng = np.random.default_rng(0)
    phi, pixels = rng.random((50, 16)), rng.random((50, 48))
    phi[7] = 3 * phi[3] + 1e-3 * rng.random(16)  # same direction, other scale: cosine ≈ 1
    pixels[20] = pixels[11] + 1e-3 * rng.random(48)
    labels = np.arange(50) % 5
    labels[7] = labels[3]
    m, arrays = neighbours(phi, pixels, np.array([3, 7, 11]), k=4, labels=labels)
    assert arrays["neighbours"][:2, 0].tolist() == [7, 3]
    assert arrays["pixel_neighbours"][2, 0] == 20
    assert arrays["cosine"][0, 0] > 0.999 and (np.diff(arrays["cosine"], axis=1) <= 0).all()
    assert 3 not in arrays["neighbours"][0] and 11 not in arrays["pixel_neighbours"][2]
    own = [(labels[arrays["neighbours"][i]] == labels[q]).mean() for i, q in enumerate([3, 7, 11])]
    assert m["neighbour_label_agreement"] == pytest.approx(np.mean(own))
    assert m["neighbour_label_agreement"] >= 2 / 12
    json.dumps(m)


def test_mutual_information_is_high_for_a_copied_factor_and_near_zero_for_an_independent_channel():
    rng = np.random.default_rng(0)
    n = 600
    shape, colour = rng.integers(0, 3, n), rng.integers(0, 2, n)
    phi = np.stack([shape + 0.05 * rng.random(n), rng.random(n), 2.0 * colour + 0.05 * rng.random(n)], axis=1)
    pixels = rng.random((n, 20))
    metrics, arrays = factors(phi, pixels, {"shape": shape, "colour": colour}, seed=0)
    json.dumps(metrics)
    mi = arrays["mi"]
    assert mi.shape == (3, 2) and arrays["factor_names"].tolist() == ["shape", "colour"]
    assert mi[0, 0] > 0.8 and mi[2, 1] > 0.8
    assert mi[1, 0] < 0.1 and mi[1, 1] < 0.1
    s = metrics["factors"]["shape"]
    assert s["best_channel"] == 0 and metrics["factors"]["colour"]["best_channel"] == 2
    assert s["max_channel_mi"] == pytest.approx(mi[0, 0])
    # cosine kNN ignores the magnitude that carries the shape here, so it reads it less well than the linear probe
    assert s["knn_accuracy"] > 0.85 and s["linear_probe_accuracy"] > 0.95
    for key in ("pixel_knn_accuracy", "pixel_linear_probe_accuracy"):
        assert abs(s[key] - s["chance"]) < 0.12, (key, s[key])


def test_subspace_channels_of_two_planted_groups_are_the_planted_ones():
    rng = np.random.default_rng(0)
    n, c = 40, 10
    groups = np.repeat([0, 1, 2], n)
    phi = 0.1 * rng.exponential(size=(3 * n, c)) * (rng.random((3 * n, c)) < 0.2)  # faint sparse background
    phi[:, 4] = rng.uniform(1, 2, 3 * n)  # common: active in every image
    phi[groups == 0, 2] += rng.uniform(1, 3, n)  # selective for group 0
    phi[groups == 1, 7] += rng.uniform(1, 3, n)  # selective for group 1
    phi[groups == 2, 9] += rng.uniform(1, 3, n)
    phi[:, 5] = rng.uniform(6, 8, 3 * n) * (rng.random(3 * n) < 0.5)  # large but in both groups: not selective
    metrics, arrays = subspaces(phi, groups, groups=(0, 1))
    assert metrics["channels"] == [2, 7, 4] and metrics["groups"] == [0, 1]
    assert min(metrics["own_energy_fraction"]) > 0.95
    assert arrays["coords_a"].shape == (n, 3) and np.array_equal(arrays["coords_b"][:, 2], phi[groups == 1, 4])
    swapped, _ = subspaces(phi, groups, groups=(2, 0))
    assert swapped["channels"] == [9, 2, 4]
    json.dumps(metrics)


def test_selective_channels_never_repeat_the_common_one():
    # Channel 0 is the common one (highest PR) yet stronger in group 0 than channel 1, group 0's own channel.
    rng = np.random.default_rng(1)
    n = 200
    groups = np.repeat([0, 1], n)
    phi = np.zeros((2 * n, 4))
    phi[:, 0] = np.concatenate([rng.uniform(3, 4, n), rng.uniform(1, 2, n)])  # ratio to both-group mean ≈ 1.4
    phi[:, 1] = np.concatenate([rng.uniform(1, 2, n), rng.uniform(1, 2, n) * (rng.random(n) < 0.5)])  # ratio ≈ 1.33
    phi[groups == 1, 2] = rng.uniform(1, 2, n)
    metrics, _ = subspaces(phi, groups)
    assert metrics["channels"] == [1, 2, 0] and metrics["groups"] == [0, 1]


def test_purity_counts_the_majority_class_of_each_cluster():
    labels, assignment = np.array([0, 0, 1, 1, 1, 2]), np.array([0, 0, 0, 1, 1, 1])
    assert purity(labels, assignment) == pytest.approx(4 / 6)


def test_bad_arguments_raise_config_error():
    x, labels = planted(10, corner_centres(2, 4, 5.0), 0.5)
    pixels = np.random.default_rng(0).random((20, 6))
    with pytest.raises(ConfigError, match="k"):
        kmeans(x, 0)
    with pytest.raises(ConfigError, match="k"):
        kmeans(x, 21)
    with pytest.raises(ConfigError, match="phi"):
        kmeans(np.zeros((0, 4)), 1)
    with pytest.raises(ConfigError, match="ks"):
        clusters(x, labels, ks=(50,))
    with pytest.raises(ConfigError, match="labels"):
        clusters(x, labels[:-1], ks=(2,))
    with pytest.raises(ConfigError, match="assignment"):
        separation(x, np.zeros(20, dtype=int))
    with pytest.raises(ConfigError, match="k"):
        neighbours(x, pixels, np.array([0]), k=20)
    with pytest.raises(ConfigError, match="queries"):
        neighbours(x, pixels, np.array([20]), k=2)
    with pytest.raises(ConfigError, match="pixels"):
        probes(x, pixels[:5], labels)
    with pytest.raises(ConfigError, match="labels"):
        probes(x, pixels, labels[:5])
    with pytest.raises(ConfigError, match="k"):
        probes(x, pixels, labels, k=0)
    with pytest.raises(ConfigError, match="phi"):
        probes(np.zeros((0, 3)), pixels, labels)
    with pytest.raises(ConfigError, match="groups"):
        subspaces(x, labels, groups=(0, 5))
    with pytest.raises(ConfigError, match="factors"):
        factors(x, pixels, {"shape": np.zeros(20, dtype=int)})
    with pytest.raises(ConfigError, match="factors"):
        factors(x, pixels, {"shape": labels[:3]})
