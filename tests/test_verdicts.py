"""Verdicts that follow their numbers (issue 25): live channels only, each contradiction the issue found built from the
metrics that produced it, and the report's captions and at-a-glance rows saying the numbers behind each verdict."""

import numpy as np
import pytest

from denoscope.analysis.channels import channel_statistics
from denoscope.analysis.selectivity import channel_states, selectivity


def planted_channels(n: int = 200, seed: int = 0) -> tuple[np.ndarray, int, int]:
    """φ of 40 common channels (about 1 on every image), one selective live channel (large on 6 images, 0 elsewhere)
    and one near-dead channel (1e-4 on 3 images, 0 elsewhere, as paper-cifar-h200's rank-1 'selective' channel)."""
    rng = np.random.default_rng(seed)
    phi = rng.uniform(0.5, 1.5, (n, 42))
    phi[:, 40] = 0
    phi[[5, 17, 60, 61, 90, 150], 40] = rng.uniform(1, 2, 6)
    phi[:, 41] = 0
    phi[[3, 4, 9], 41] = 1e-4
    return phi, 40, 41


def test_a_near_dead_channel_is_kept_out_of_the_selective_ranks_and_a_live_selective_one_kept_in():
    phi, live, near_dead = planted_channels()
    m, a = selectivity(phi, n_top=3, k=9)
    assert m["near_dead_channel_ids"] == [near_dead] and m["near_dead_channels"] == 1 and m["dead_channels"] == 0
    assert m["live_channels"] == 41 and np.isnan(a["channel_pr"][near_dead]) and a["channel_state"][near_dead] == 1
    assert m["top_channels"][0] == live and near_dead not in m["top_channels"]
    assert a["channel_pr"][live] < m["gmm_split"]  # selective, and the near-dead one is in no mode at all
    assert np.isnan(np.sort(a["channel_pr"])[-1]) and np.nanargmin(a["channel_pr"]) == live


def test_top_images_are_only_images_that_really_activate_the_channel_with_their_values():
    phi, live, near_dead = planted_channels()
    m, a = selectivity(phi, n_top=3, k=9, top_k=16)
    shown = [5, 17, 60, 61, 90, 150]
    assert sorted(m["top_images"][str(live)]) == shown  # 6 images, not 9 padded with images at 0
    assert m["top_values"][str(live)] == sorted(phi[shown, live].tolist(), reverse=True)
    row = a["channel_top"][live]
    assert sorted(row[:6].tolist()) == shown and (row[6:] == -1).all() and np.isnan(a["channel_top_values"][live, 6:]).all()
    assert (a["channel_top"][near_dead] == -1).all()  # no image reaches the live threshold: no top images
    assert (a["channel_top"][:40] >= 0).all()  # common channels: every image activates them


def test_the_live_rule_is_relative_to_the_typical_channel_and_its_floor_is_a_parameter():
    phi, live, near_dead = planted_channels()
    states = channel_states(phi * 1000)  # the scale of φ does not change which channels are live
    assert states["near_dead"][near_dead] and states["live"][live] and states["threshold"] == pytest.approx(
        1000 * channel_states(phi)["threshold"])
    assert selectivity(phi, live_floor=0.0)[0]["near_dead_channels"] == 0  # floor 0: every active channel is live
    phi[:, 39] = 0
    assert channel_states(phi)["dead"][39]


def test_channel_statistics_leave_out_near_dead_channels_and_channels_unseen_in_the_maps():
    phi, live, near_dead = planted_channels()
    rng = np.random.default_rng(1)
    maps = rng.uniform(0.5, 1.5, (5, 42, 4, 4)) * (phi[:5, :, None, None] > 0)  # the selective channel fires on none of the 5
    m, a = channel_statistics(phi, maps)
    assert np.isnan(a["selectivity_pr"][near_dead]) and np.isnan(a["kurtosis"][near_dead])
    assert np.isnan(a["spatial_sparsity"][live]) and np.isfinite(a["kurtosis"][live])
    assert m["near_dead_channels"] == 1 and m["channels_without_maps"] == 1
    assert m["kurtosis_vs_selectivity"]["channels"] == 41 and m["spatial_sparsity_vs_selectivity"]["channels"] == 40
    assert all(np.isfinite(m[f"{k}_median"]) for k in ("kurtosis", "spatial_sparsity", "components"))


# ---- each contradiction the issue found, built from the metrics that produced it

from denoscope.analysis.findings import (FAILS, HOLDS, PARTLY, TIE, TOO_FEW, neighbours_finding, selectivity_finding,  # noqa: E402
                                         stability_finding, verdict_text)
from denoscope.analysis.neighbours import constancy, mean_pairwise_cosine  # noqa: E402
from denoscope.analysis.stability import stability  # noqa: E402
from test_findings import BLOCKS, SIGMAS, fixed_direction, turning  # noqa: E402


def one_bar(n: int = 256, seed: int = 0) -> np.ndarray:
    """φ as the demo's: 184 channels on every image (PR ≈ 1) and 8 on 90 % of images (PR 0.9): one bar at PR ≈ 1, with
    a tail skewed enough for Sarle's b to pass 5/9."""
    rng = np.random.default_rng(seed)
    phi = rng.uniform(1.0, 1.05, (n, 192))
    phi[:, 184:] *= rng.random((n, 8)) < 0.9
    return phi


def test_selectivity_is_not_bimodal_over_a_histogram_of_one_bar():
    m, a = selectivity(one_bar())
    assert m["selectivity_bimodality"] > 5 / 9 and a["counts"][-6:].sum() == 192  # b says bimodal; the figure shows one bar
    f = selectivity_finding({"images": 256, "selectivity": m})
    assert f["verdict"] == FAILS and "mixture means at PR 0.9" in f["ours"]
    assert f["reason"].startswith("not borne out: channel PRs bimodal")


def test_selectivity_is_not_bimodal_over_one_hump_with_a_skewed_tail_and_is_over_two_humps():
    from test_analysis_stats import channels_with_pr

    rng = np.random.default_rng(1)
    hump = 1 - rng.beta(1.2, 6.0, 260) * 0.9  # one hump at PR ≈ 0.95, a long tail towards 0.1: b > 5/9 all the same
    m, a = selectivity(channels_with_pr(400, hump, rng))
    assert m["selectivity_bimodality"] > 5 / 9 and m["selective_fraction"] > 0.1 and m["gmm_dip"] > 0.8
    assert selectivity_finding({"images": 400, "selectivity": m})["verdict"] == FAILS
    rng = np.random.default_rng(3)
    humps = np.concatenate([np.clip(rng.normal(0.85, 0.05, 190), 0, 1), rng.uniform(0.05, 0.75, 60)])  # a plateau, then a peak
    m, a = selectivity(channels_with_pr(400, humps, rng))
    assert m["gmm_dip"] < 0.8 and selectivity_finding({"images": 400, "selectivity": m})["verdict"] == HOLDS
    assert a["mixture_density"].shape == a["mixture_pr"].shape and a["mixture_density"].sum() * (a["mixture_pr"][1] - a["mixture_pr"][0]) == pytest.approx(1, abs=0.05)


def test_neighbours_do_not_hold_when_phi_agrees_less_than_pixels():
    every = {"images": 300, "k": 8, "label_agreement": 0.23, "pixel_label_agreement": 0.36, "chance": 0.1,
             "lead_interval": [-0.17, -0.09], "over_chance_interval": [0.10, 0.16]}
    f = neighbours_finding({"neighbours": {"every_image": every}})
    assert f["verdict"] == FAILS and "φ 0.230 vs pixels 0.360" in f["ours"] and "not borne out" in f["reason"]


def probe_metrics(n_test: int, lead: list[float]) -> dict:
    """probes' metrics of a φ a little ahead of pixels on n_test held-out images (as a 300-image REP's 75)."""
    return {"knn_accuracy": 0.30, "pixel_knn_accuracy": 0.27, "linear_probe_accuracy": 0.33, "pixel_linear_probe_accuracy": 0.29,
            "chance": 0.1, "knn_lead_interval": lead, "linear_probe_lead_interval": lead, "knn_over_chance_interval": [0.1, 0.3],
            "linear_probe_over_chance_interval": [0.12, 0.33], "n_train": 225, "n_test": n_test, "n_classes": 10, "k": 20}


def test_accuracy_findings_ahead_within_their_noise_are_too_few_images_to_tell():
    f = neighbours_finding({"probes": probe_metrics(75, [-0.07, 0.13])})
    assert f["verdict"] == TOO_FEW and "includes 0, on 75 held-out images (probes)" in verdict_text(f)
    assert "lead -0.070 to +0.130" in f["ours"]
    assert neighbours_finding({"probes": probe_metrics(75, [0.02, 0.13])})["verdict"] == HOLDS  # the interval clears 0


def test_the_intervals_come_from_the_probes_and_neighbour_table():
    from denoscope.analysis.neighbours import neighbour_table, table_label_agreement
    from denoscope.analysis.probes import probes

    rng = np.random.default_rng(7)
    labels = np.repeat(np.arange(4), 40)
    noise = rng.standard_normal((160, 10)) + 10
    p = probes(noise, noise[:, ::-1].copy(), labels)[0]  # the same numbers both ways: no lead, nothing above chance
    assert p["knn_lead_interval"] == [0.0, 0.0] and p["knn_over_chance_interval"][0] < 0 < p["knn_over_chance_interval"][1]
    every = table_label_agreement(neighbour_table(noise, noise, 8), labels)
    assert every["lead_interval"] == [0.0, 0.0] and every["over_chance_interval"][0] < 0 < every["over_chance_interval"][1]
    f = neighbours_finding({"probes": p, "neighbours": {"every_image": every}})
    assert f["verdict"] == TOO_FEW and f["stricter"]["verdict"] == TOO_FEW


def stability_of(stable: set[str], n: int = 30) -> dict:
    rng = np.random.default_rng(1)
    means = {b: fixed_direction(n, 16, rng) if b in stable else turning(n, 16, rng) for b in BLOCKS}
    return {"images": n, "stability": stability(means, SIGMAS, 0.5)[0]}


def test_stability_does_not_fail_on_a_tie():
    f = stability_finding(stability_of(set(BLOCKS)))  # every block keeps its direction: cosine 1.0000 everywhere
    assert f["verdict"] == TIE and all(p["holds"] is None for p in f["parts"]) and "a tie" in f["ours"]
    tied = stability_finding(stability_of({"mid", "dec3"}))  # mid ties with dec3 and beats the rest
    assert tied["verdict"] == PARTLY and (tied["k"], tied["n"]) == (3, 4)
    assert verdict_text(tied) == "partly (3 of 4; 1 too close to tell)" and "too close to tell: mid (raw cosine) more stable than dec3" in tied["reason"]


def test_a_stability_difference_within_its_noise_is_a_tie_and_beyond_it_is_not():
    m = stability_of({"mid"})
    s = m["stability"]
    s["stability"]["dec3"] = s["stability"]["mid"] - s["difference_se"]["dec3"]  # one standard error below mid: within the noise
    s["difference_se"]["enc2"] = 0.0
    s["stability"]["enc2"] = s["stability"]["mid"] - 0.00002  # below the 4th decimal shown
    f = stability_finding(m)
    assert [p["holds"] for p in f["parts"]] == [None, True, None, True]
    assert s["difference_se"]["dec3"] > 0.001  # turning blocks: a real spread over images


def test_nearly_constant_phi_warns():
    rng = np.random.default_rng(8)
    common = np.full((100, 32), 5.0) + 0.01 * rng.random((100, 32))
    assert constancy(common)["nearly_constant"] and "mean pairwise cosine 1.0000 ≥ 0.999" in constancy(common)["warning"]
    varied = rng.random((100, 32)) ** 4
    assert not constancy(varied)["nearly_constant"] and constancy(varied)["warning"] is None
    unit = varied / np.linalg.norm(varied, axis=1, keepdims=True)
    brute = (unit @ unit.T)[~np.eye(100, dtype=bool)].mean()
    assert mean_pairwise_cosine(varied) == pytest.approx(brute)


# ---- the report says the numbers behind each verdict

from denoscope.reporting.build import Figure, analysis_numbers, analysis_section, glance, reconstruct_figures  # noqa: E402
from denoscope.reporting.inputs import Stage  # noqa: E402


def test_every_at_a_glance_row_carries_its_numbers_and_no_two_rows_are_alike():
    psnr = '<table class="numbers"><tr><th>PSNR denoised / noisy (dB)</th><td>{} / 20.00</td></tr></table>'
    figures = [("training-0", Figure("t.png", "Training curve", f"At step 800 the model is better. {psnr.format('27.10')}", True)),
               ("denoise-0", Figure("d.png", "Denoising examples", f"The denoiser is better. {psnr.format('26.30')}", True))]
    page = glance(figures)
    rows = page.split('<tr><td><a href="#')[1:]
    assert len(rows) == 2 and rows[0] != rows[1]
    assert "27.10 / 20.00" in rows[0] and "26.30 / 20.00" in rows[1]


def test_a_verdict_shows_its_reason_at_a_glance():
    record = selectivity_finding({"images": 256, "selectivity": selectivity(one_bar())[0]})
    page = glance([("analysis-2", Figure("s.png", "Channel selectivity", "", record=record))])
    assert "does not hold" in page and '<div class="why">not borne out: channel PRs bimodal' in page


def reconstruct_metrics(guided: float, random: float) -> dict:
    return {"targets": [{"label": "test.tar[7]"}], "per_target": 4, "phi_match_error_median": 0.0001,
            "assessment": {"targets": 1, "phi_sigma": 0.2, "phi_distance_target_to_itself_median": 0.05,
                           "measures": {"phi_distance": {"median": {"guided": guided, "unguided": 0.61, "random": random},
                                                         "guided_closer_than_random": float(guided < random),
                                                         "guided_closer_than_both": float(guided < min(random, 0.61))}}}}


def test_reconstructions_are_held_against_random_images_never_a_matching_error_alone(tmp_path):
    close = reconstruct_figures(Stage("reconstruct", tmp_path, reconstruct_metrics(0.12, 0.55)), tmp_path, 0)[0]
    assert close.finding is True and "random images 0.550" in close.caption and "samples 0.120" in close.caption
    far = reconstruct_figures(Stage("reconstruct", tmp_path, reconstruct_metrics(0.58, 0.55)), tmp_path, 0)[0]
    assert far.finding is False and "no evidence alone" in far.caption
    bare = reconstruct_metrics(0.1, 0.5)
    del bare["assessment"]
    none = reconstruct_figures(Stage("reconstruct", tmp_path, bare), tmp_path, 0)[0]
    assert none.finding is None and "No baseline was computed" in none.caption


def test_the_analysis_section_warns_of_a_constant_phi_and_counts_live_channels(tmp_path):
    m, _ = selectivity(planted_channels()[0])
    metrics = {"images": 200, "source": "s", "sigma": 0.5, "rep": "r", "selectivity": m, "findings": {},
               "warnings": [constancy(np.full((10, 4), 3.0))["warning"]]}
    intro = analysis_section(Stage("analysis", tmp_path, metrics), tmp_path).intro
    assert "41 live channels, 1 near-dead and 0 dead" in intro and "Warning: φ is nearly constant" in intro


def test_the_subspaces_numbers_say_what_the_groups_are():
    text = analysis_numbers("subspaces", {"subspaces": {"groups": [0, 4], "channels": [12, 30, 7], "common_pr": 0.93,
                                                        "own_energy_fraction": [0.81, 0.77]}})
    assert "K-means clusters 0 (A) and 4 (B)" in text and "channel 7, common to both" in text and "[0, 4]" not in text
