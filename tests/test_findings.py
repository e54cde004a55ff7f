"""Each of the paper's findings on synthetic arrays with a planted answer: the paper's pattern holds, its reverse does
not, a mix holds partly (k of n); the numbers go through the analysis functions that the analyse stage runs."""

import numpy as np
import pytest

from denoscope.analysis.channels import correlation
from denoscope.analysis.clusters import clusters
from denoscope.analysis.findings import (FAILS, HOLDS, PARTLY, TIE, TOO_FEW, channels_finding, clusters_finding, embedding_finding,
                                         findings, matching_finding, neighbours_finding, selectivity_finding, sparsity_finding,
                                         stability_finding, verdict_text)
from denoscope.analysis.neighbours import neighbour_table, table_label_agreement
from denoscope.analysis.probes import probes
from denoscope.analysis.selectivity import selectivity
from denoscope.analysis.sparsity import sparsity
from denoscope.analysis.stability import stability
from denoscope.sampling.distance import euclidean_embedding
from test_analysis_stats import channels_with_pr

BLOCKS = ("enc2", "enc3", "mid", "dec3", "dec2")


def with_pr(n: int, d: int, pr: float, rng: np.random.Generator) -> np.ndarray:
    """n×1×d block means whose every image has round(pr·d) equal non-zero channels: PR = that count / d exactly."""
    a = np.zeros((n, 1, d))
    for i in range(n):
        a[i, 0, rng.choice(d, round(pr * d), replace=False)] = rng.uniform(0.5, 2.0)
    return a


def sparsity_metrics(prs: dict[str, tuple[float, float]], n: int = 40) -> dict:
    """The analyse metrics of blocks with planted (input PR, output PR)."""
    rng = np.random.default_rng(0)
    means = {}
    for b, (pr_in, pr_out) in prs.items():
        means[f"{b}.in"], means[b] = with_pr(n, 40, pr_in, rng), with_pr(n, 40, pr_out, rng)
    return {"images": n, "sparsity": sparsity(means, np.array([0.5]), 0.5)[0]}


def paper_sparsity(b: str) -> tuple[float, float]:
    return (0.2, 0.5) if b.startswith("enc") else (0.5, 0.25)


def test_sparsity_finding_holds_for_the_papers_pattern_and_not_for_its_reverse():
    f = sparsity_finding(sparsity_metrics({b: paper_sparsity(b) for b in BLOCKS}))
    assert (f["verdict"], f["k"], f["n"]) == (HOLDS, 6, 6)
    assert f["stricter"]["verdict"] == HOLDS  # every image moves; mid's quartiles are all 0.25
    assert "enc3 0.200 → 0.500" in f["ours"] and "mid 0.500 → 0.250" in f["ours"]
    reverse = sparsity_finding(sparsity_metrics({b: paper_sparsity(b)[::-1] for b in BLOCKS}))
    assert (reverse["verdict"], reverse["k"]) == (FAILS, 0)  # and mid's output, 0.5, lies outside [0.2, 0.3]


def test_sparsity_finding_is_partly_when_one_decoder_block_gets_denser():
    prs = {b: paper_sparsity(b) for b in BLOCKS} | {"dec2": (0.2, 0.3)}  # as paper-cifar-h200's dec2
    f = sparsity_finding(sparsity_metrics(prs))
    assert (f["verdict"], f["k"], f["n"]) == (PARTLY, 5, 6) and verdict_text(f) == "partly (5 of 6)"
    assert [p["holds"] for p in f["parts"]] == [True, True, True, True, False, True]


def test_sparsity_finding_says_too_few_images():
    f = sparsity_finding(sparsity_metrics({b: paper_sparsity(b) for b in BLOCKS}, n=5))
    assert f["verdict"] == TOO_FEW == f["stricter"]["verdict"] and "5 images" in verdict_text(f)


SIGMAS = np.array([0.0, 0.05, 0.2, 0.5, 0.8, 1.0])


def fixed_direction(n: int, c: int, rng) -> np.ndarray:
    """Each image's own direction, its amplitude growing with σ: cosine 1 with itself at every σ."""
    return rng.random((n, 1, c)) * np.linspace(0.5, 2, SIGMAS.size)[None, :, None]


def turning(n: int, c: int, rng) -> np.ndarray:
    """Each image's direction at σ a mix of a σ = 0.5 direction and a fresh one, more of the fresh one away from σ₁ = 0.5."""
    base, fresh = rng.random((n, 1, c)), rng.random((n, SIGMAS.size, c))
    w = np.abs(SIGMAS - 0.5)[None, :, None] * 2
    return (1 - w) * base + w * fresh


def stability_metrics(stable: set[str], n: int = 30) -> dict:
    rng = np.random.default_rng(1)
    means = {b: fixed_direction(n, 16, rng) if b in stable else turning(n, 16, rng) for b in BLOCKS}
    return {"images": n, "stability": stability(means, SIGMAS, 0.5)[0]}


def test_stability_finding_holds_when_mid_alone_keeps_its_direction():
    f = stability_finding(stability_metrics({"mid"}))
    assert (f["verdict"], f["n"]) == (HOLDS, 4) and f["stricter"]["verdict"] == HOLDS
    assert "σ₂ ∈ {0.20, 0.80, 1.00}" in f["statistic"]  # σ₂ → 0 and σ₁ itself left out
    assert f["ours"].split("Ranking: ")[1].startswith("mid 1.0000 >")
    reverse = stability_finding(stability_metrics(set(BLOCKS) - {"mid"}))
    assert (reverse["verdict"], reverse["k"]) == (FAILS, 0)
    mixed = stability_finding(stability_metrics({"mid", "dec3"}))  # dec3 as stable as mid: mid is not the most stable
    assert (mixed["verdict"], mixed["k"]) == (PARTLY, 3)


def test_a_large_common_channel_makes_the_raw_cosine_high_and_the_centred_one_tells():
    rng = np.random.default_rng(2)
    n, c = 40, 16
    means = {b: turning(n, c, rng) for b in BLOCKS}
    means["mid"] = fixed_direction(n, c, rng) + 0.2 * rng.random((n, SIGMAS.size, c))  # stable, not perfectly
    common = np.zeros((1, 1, c))
    common[..., 0] = 50.0
    means["dec3"] = means["dec3"] + common  # one huge channel shared by every image, the rest unstable
    m = stability(means, SIGMAS, 0.5)[0]
    assert m["stability"]["dec3"] > 0.99 and m["other_image_cosine"]["dec3"] > 0.99  # as high between unrelated images
    assert m["centred_stability"]["dec3"] < m["centred_stability"]["mid"]
    f = stability_finding({"images": n, "stability": m})
    assert f["verdict"] == PARTLY and not next(p for p in f["parts"] if "dec3" in p["claim"])["holds"]
    assert f["stricter"]["verdict"] == HOLDS


def test_selectivity_finding_on_live_channels_only():
    rng = np.random.default_rng(3)
    two = np.concatenate([rng.uniform(0.03, 0.08, 60), rng.uniform(0.85, 0.95, 60)])
    phi = np.concatenate([channels_with_pr(200, two, rng), np.zeros((200, 80))], axis=1)  # 80 dead channels
    f = selectivity_finding({"images": 200, "selectivity": selectivity(phi)[0]})
    assert f["verdict"] == HOLDS and f["stricter"]["verdict"] == HOLDS
    assert "of 120 live channels" in f["ours"] and "(0 near-dead and 80 dead left out)" in f["ours"]
    one = np.clip(rng.normal(0.5, 0.08, 120), 0.05, 1)
    f = selectivity_finding({"images": 200, "selectivity": selectivity(channels_with_pr(200, one, rng))[0]})
    assert f["verdict"] == FAILS and f["stricter"]["verdict"] == FAILS


def test_channels_finding_reads_each_property_against_selectivity():
    rng = np.random.default_rng(4)
    pr = rng.uniform(0.05, 0.9, 60)
    noise = lambda: 0.05 * rng.standard_normal(60)  # noqa: E731

    def metrics(signs: tuple[int, int, int, int]) -> dict:
        values = [s * pr + noise() for s in signs]
        return {"channels": {k: correlation(v, pr) for k, v in zip(("kurtosis_vs_selectivity", "spatial_sparsity_vs_selectivity",
                                                                    "components_vs_selectivity"), values)},
                "stability": {"channel_stability_vs_selectivity": correlation(values[3], pr),
                              "channel_correlation_vs_selectivity": correlation(values[3] if signs[3] else -pr + noise(), pr)}}

    assert channels_finding(metrics((-1, 1, 1, 1)))["verdict"] == HOLDS
    assert channels_finding(metrics((-1, 1, 1, 1)))["stricter"]["verdict"] == HOLDS
    raw_only = metrics((-1, 1, 1, 0))  # stability's raw cosine rises with PR only through the common channels' size
    raw_only["stability"]["channel_stability_vs_selectivity"] = correlation(pr + noise(), pr)
    f = channels_finding(raw_only)
    assert f["verdict"] == HOLDS and (f["stricter"]["verdict"], f["stricter"]["k"]) == (PARTLY, 3)
    assert channels_finding(metrics((1, -1, -1, -1)))["verdict"] == FAILS
    mixed = channels_finding(metrics((-1, 1, -1, -1)))
    assert (mixed["verdict"], mixed["k"], mixed["n"]) == (PARTLY, 2, 4)
    one_level = metrics((-1, 1, 1, 1))  # a REP of one σ: stability over σ has nothing to be measured at
    one_level["stability"] |= {"sigma_levels": [], "channel_stability_vs_selectivity": {"pearson": None, "spearman": None, "spearman_p": None, "channels": 0}}
    f = channels_finding(one_level)
    assert (f["verdict"], f["why"]) == (TOO_FEW, "0 noise levels σ₂ to measure stability over σ at, fewer than 1")
    one_level["stability"]["sigma_levels"] = [0.2]
    assert channels_finding(one_level)["why"] == "0 channels with defined statistics, fewer than 10"


def class_features(labels: np.ndarray, spread: float, dims: int, rng) -> np.ndarray:
    """Features whose classes sit at random centres `spread` apart in scale, plus unit noise (spread 0: no class signal)."""
    centres = rng.standard_normal((labels.max() + 1, dims)) * spread
    return centres[labels] + rng.standard_normal((labels.size, dims)) + 10  # positive offset: cosine sees the noise too


def neighbours_metrics(phi_spread: float, pixel_spread: float) -> dict:
    rng = np.random.default_rng(5)
    labels = np.repeat(np.arange(4), 60)
    phi, pixels = class_features(labels, phi_spread, 12, rng), class_features(labels, pixel_spread, 30, rng)
    return {"neighbours": {"every_image": table_label_agreement(neighbour_table(phi, pixels, 8), labels)},
            "probes": probes(phi, pixels, labels)[0]}


def test_neighbours_finding_compares_phi_with_pixels_and_chance():
    m = neighbours_metrics(4.0, 0.0)
    f = neighbours_finding(m)
    assert (f["verdict"], f["n"]) == (HOLDS, 3) and f["stricter"]["verdict"] == HOLDS
    every = m["neighbours"]["every_image"]
    assert every["chance"] == pytest.approx(59 / 239)
    assert f"φ {every['label_agreement']:.3f} vs pixels {every['pixel_label_agreement']:.3f}" in f["ours"]
    assert neighbours_finding(neighbours_metrics(0.0, 4.0))["verdict"] == FAILS
    m["probes"]["linear_probe_lead_interval"] = [-0.2, -0.05]  # pixels win one probe beyond its noise
    assert (neighbours_finding(m)["verdict"], neighbours_finding(m)["k"]) == (PARTLY, 2)


def blobs(n_per: int, groups: int, far: float, rng) -> tuple[np.ndarray, np.ndarray]:
    centres = rng.standard_normal((groups, 6)) * far
    which = np.repeat(np.arange(groups), n_per)
    return centres[which] + rng.standard_normal((which.size, 6)), which


def test_clusters_finding_well_separated_clusters_and_overlapping_classes(monkeypatch):
    rng = np.random.default_rng(6)
    phi, which = blobs(40, 5, 20.0, rng)
    shuffled_labels = rng.permutation(which)  # classes unrelated to the clusters
    f = clusters_finding({"clusters": clusters(phi, shuffled_labels, ks=(5,), tsne_clusters=0)[0]})
    assert (f["verdict"], f["n"]) == (HOLDS, 3) and f["stricter"]["verdict"] == HOLDS
    same = clusters_finding({"clusters": clusters(phi, which, ks=(5,), tsne_clusters=0)[0]})
    assert (same["verdict"], same["k"]) == (PARTLY, 2)  # classes = clusters: not less well separated
    import denoscope.analysis.clusters as module

    monkeypatch.setattr(module, "kmeans", lambda x, k, seed, **_: (np.arange(len(x)) % k, None))  # clusters cutting across the blobs
    monkeypatch.setattr(module, "closest_members", lambda *a: np.zeros((5, 1), dtype=np.int64))
    reverse = clusters_finding({"clusters": clusters(phi, which, ks=(5,), tsne_clusters=0)[0]})
    assert (reverse["verdict"], reverse["k"]) == (FAILS, 0)


def embedding_metrics(d2_of, n: int = 30) -> dict:
    phi2 = np.random.default_rng(7).uniform(0.1, 1.0, n)
    d2 = d2_of(phi2, np.random.default_rng(8))
    return {"phi_distance2": phi2.tolist(), "d2": d2.tolist(), **euclidean_embedding(phi2, d2)}


def test_embedding_finding_bounds_and_correlation():
    f = embedding_finding(embedding_metrics(lambda p, r: 100 * p * r.uniform(1.0, 2.0, p.size)))
    assert f["verdict"] == HOLDS and f["stricter"]["verdict"] == HOLDS
    reverse = embedding_finding(embedding_metrics(lambda p, r: r.uniform(1, 100, p.size)))
    assert reverse["verdict"] == FAILS and reverse["stricter"]["verdict"] == FAILS
    mixed = embedding_finding(embedding_metrics(lambda p, r: 100 * p * r.uniform(1.0, 6.0, p.size)))
    assert (mixed["verdict"], mixed["k"]) == (PARTLY, 1)  # B/A above 2.9, the relation still strong
    assert embedding_finding(embedding_metrics(lambda p, r: 100 * p, n=3))["verdict"] == TOO_FEW


def test_matching_finding_sigma_unchanged():
    before = np.random.default_rng(9).uniform(0.05, 1.0, 200)
    assert matching_finding(before, before * 1.01)["verdict"] == HOLDS
    assert (matching_finding(before, before * 0.5)["verdict"], matching_finding(before, before * 0.5)["k"]) == (PARTLY, 1)
    assert matching_finding(before, np.random.default_rng(10).uniform(0.05, 1.0, 200))["verdict"] == FAILS


def test_findings_are_json_ready_records_with_a_verdict_from_the_allowed_ones():
    import json

    m = sparsity_metrics({b: paper_sparsity(b) for b in BLOCKS}) | stability_metrics({"mid"})
    m["selectivity"] = selectivity(channels_with_pr(60, np.linspace(0.05, 0.9, 30), np.random.default_rng(0)))[0]
    m |= {"clusters": clusters(*blobs(20, 3, 20.0, np.random.default_rng(1)), ks=(3,), tsne_clusters=0)[:1][0]}
    out = findings(m)
    assert list(out) == ["sparsity", "stability", "selectivity", "clusters"]
    json.dumps(out)
    for f in out.values():
        assert {"figure", "statement", "statistic", "ours", "verdict", "reason", "stricter"} <= set(f)
        assert f["statement"].startswith("“") and f["verdict"] in (HOLDS, PARTLY, FAILS, TOO_FEW, TIE)


def test_the_most_stable_block_and_the_findings_ranking_are_one_decision():
    rng = np.random.default_rng(11)
    n = 30
    means = {b: turning(n, 16, rng) for b in BLOCKS} | {"mid": fixed_direction(n, 16, rng) + 0.1 * turning(n, 16, rng)}
    means |= {"enc1": fixed_direction(n, 16, rng), "dec1": fixed_direction(n, 16, rng), "mid.in": fixed_direction(n, 16, rng)}
    m = {"images": n, "stability": stability(means, SIGMAS, 0.5)[0]}
    scores = m["stability"]["stability"]
    assert scores["enc1"] > scores["mid"] > max(scores[b] for b in BLOCKS if b != "mid")  # enc1 is not a block of fig. 2
    assert m["stability"]["most_stable_block"] == "mid"
    ranked = stability_finding(m)["ours"].split("Ranking: ")[1]
    assert ranked.startswith("mid ") and "enc1" not in ranked and "mid.in" not in ranked
