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
