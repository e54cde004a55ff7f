"""The analyse stage as a library call: it computes in memory and writes nothing; what it saves is what it returned."""

import json

import numpy as np
import pytest

from denoscope import rng
from denoscope.analysis.clusters import kmeans
from denoscope.analysis.run import analyse
from denoscope.checkpoint import load_denoiser
from denoscope.data import open_source
from denoscope.representation import RepConfig, Representation, represent
from denoscope.results import StageResult

DATA = "synthetic:shapes?n=40&size=16&seed=2"


@pytest.fixture(scope="module")
def rep_in_memory(two_level_weights):
    d = load_denoiser(two_level_weights)
    return represent(d, open_source(DATA), RepConfig(sigmas=(0.0, 0.2, 0.5), draws=1, blocks=d.config.block_names, inputs=True, maps=8))


def test_analyse_returns_its_numbers_and_arrays_and_writes_nothing(rep_in_memory, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = analyse(rep_in_memory, open_source(DATA), ks=(3,), seed=5)
    assert list(tmp_path.iterdir()) == []
    assert isinstance(result, StageResult) and result.stage == "analyse" and result.metrics["rep"] is None
    assert {"sparsity", "stability", "selectivity", "channels", "clusters", "neighbours", "probes", "factors"} <= set(result.metrics)
    assert set(result.metrics["findings"]) >= {"sparsity", "stability", "selectivity"}
    assert {"sparsity", "stability", "selectivity", "clusters", "neighbours", "neighbour_table", "thumbnails"} <= set(result.arrays)
    assert "k3__assignment" in result.arrays["clusters"] and result.arrays["thumbnails"]["images"].dtype == np.uint8
    written = result.save(tmp_path / "out")
    assert sorted(p.name for p in written) == sorted([f"{name}.npz" for name in result.arrays] + ["metrics.json"])
    assert not (tmp_path / "out" / "figures").exists()  # analyses never draw
    with np.load(tmp_path / "out" / "clusters.npz") as saved:
        np.testing.assert_array_equal(saved["k3__assignment"], result.arrays["clusters"]["k3__assignment"])
    # the queries come from their stream; the clusters reconstruct --cluster recomputes from the same seed are the ones analyse saved
    np.testing.assert_array_equal(result.arrays["neighbours"]["queries"], rng.choose(rep_in_memory.n, 8, 5, "queries"))
    np.testing.assert_array_equal(result.arrays["clusters"]["k3__assignment"], kmeans(rep_in_memory.phi(0.5), 3, 5)[0])


def test_a_saved_representation_gives_the_same_analysis_as_the_one_in_memory(rep_in_memory, tmp_path):
    folder = rep_in_memory.save(tmp_path / "rep")
    a = analyse(rep_in_memory, ks=(3,)).metrics
    b = analyse(folder, ks=(3,)).metrics
    assert b["rep"] == str(tmp_path / "rep")
    a.pop("rep"), b.pop("rep")
    assert json.dumps(a, sort_keys=True, default=str) == json.dumps(b, sort_keys=True, default=str)
    assert "neighbours, probes, factors: no images given to compare with pixels" in a["not_computed"]
    assert Representation(tmp_path / "rep").complete


def test_the_live_floor_reaches_selectivity_and_the_channel_statistics_and_a_bad_one_is_refused(rep_in_memory):
    from denoscope.errors import ConfigError

    m = analyse(rep_in_memory, ks=(3,), live_floor=0.0).metrics
    assert m["selectivity"]["live_floor"] == m["channels"]["live_floor"] == 0.0 and m["selectivity"]["near_dead_channels"] == 0
    assert m["selectivity"]["live_channels"] == m["channels"]["live_channels"] and "constancy" in m and isinstance(m["warnings"], list)
    with pytest.raises(ConfigError, match="live_floor must be a fraction in"):
        analyse(rep_in_memory, live_floor=1.5)


def test_findings_are_derived_again_from_saved_metrics_even_of_a_one_level_rep(two_level_weights, tmp_path):
    from denoscope.analysis.findings import TOO_FEW
    from denoscope.analysis.run import findings

    d = load_denoiser(two_level_weights)
    one = represent(d, open_source(DATA), RepConfig(sigmas=(0.5,), draws=1, blocks=("mid",), maps=8))
    analyse(one, ks=(3,)).save(tmp_path)
    saved = json.loads((tmp_path / "metrics.json").read_text())  # NaN is saved as null
    assert json.dumps(findings(saved), sort_keys=True) == json.dumps(saved["findings"], sort_keys=True)
    assert (saved["findings"]["channels"]["verdict"], saved["findings"]["channels"]["why"]) == (
        TOO_FEW, "0 noise levels σ₂ to measure stability over σ at, fewer than 1")
