import json

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from denoscope.checkpoint import load_denoiser
from denoscope.cli import app
from denoscope.denoiser import GaussianDenoiser
from denoscope.errors import ConfigError
from denoscope.generalization import GeneralizeConfig, as_uint8, compare, disjoint_subsets, draw_samples, train_model
from denoscope.io import write_npz
from denoscope.sampling.engine import DiffusionConfig

SHAPE = (1, 4, 4)
FAST = DiffusionConfig(h0=0.05, max_steps=400)


def test_the_subsets_are_disjoint_nested_and_apart_from_the_held_out_images():
    held, sets = disjoint_subsets(100, (1, 5, 20), 30, seed=3)
    assert len(held) == 30
    for n, (a, b) in sets.items():
        assert len(a) == len(b) == n and not set(a) & set(b) and not (set(a) | set(b)) & set(held)
    assert set(sets[5][0]) <= set(sets[20][0]) and set(sets[1][1]) <= set(sets[5][1])
    assert np.array_equal(disjoint_subsets(100, (1, 5, 20), 30, seed=3)[1][20][1], sets[20][1])
    assert not np.array_equal(disjoint_subsets(100, (1, 5, 20), 30, seed=4)[1][20][1], sets[20][1])
    with pytest.raises(ConfigError, match="need 71"):
        disjoint_subsets(70, (1, 5, 20), 31, seed=0)


class OneImage(GaussianDenoiser):
    """The MMSE denoiser of a prior concentrated on one image x₀ (covariance 10⁻⁸·I): a model that memorised N = 1."""

    device = torch.device("cpu")

    def __init__(self, image: torch.Tensor):
        n = image.numel()
        super().__init__(image.flatten(), 1e-8 * torch.eye(n), SHAPE)


def test_a_model_that_memorised_one_image_returns_it_from_noise_and_is_counted_as_a_copy():
    torch.manual_seed(0)
    x = {"a": torch.rand(1, *SHAPE), "b": torch.rand(1, *SHAPE)}
    heldout = torch.rand(6, *SHAPE)
    config = GeneralizeConfig(sizes=(1,), steps=(1,), samples=4, holdout=6, diffusion=FAST)
    metrics, arrays = compare({w: OneImage(x[w][0]) for w in "ab"}, x, heldout, config)
    for w in "ab":
        m = metrics["models"][w]
        assert m["memorised"] == 4 and min(m["own"]["psnr"]) > 35 and max(m["other"]["psnr"]) < 25
        assert np.allclose(arrays[w], x[w].numpy(), atol=0.02) and np.array_equal(arrays[f"nearest_{w}"][0], x[w][0].numpy())
        assert all(g["train"] - g["test"] > 10 for g in m["denoising"].values())
        assert m["sampling"]["status"] == ["converged"] * 4
    assert metrics["pair"]["psnr_median"] < 25


class Amplifier(OneImage):
    """D(y) = 2y: its residual grows with y, so every reverse diffusion diverges — samples that are no model's samples."""

    def __call__(self, y: torch.Tensor) -> torch.Tensor:
        return 2 * y

    def residual(self, y: torch.Tensor) -> torch.Tensor:
        return y


def test_diverged_samples_count_neither_as_copies_nor_in_the_medians_and_the_finding_says_too_few():
    from denoscope.analysis.findings import TOO_FEW
    from denoscope.analysis.findings_2023 import generalize_finding

    torch.manual_seed(0)
    x = {"a": torch.full((1, *SHAPE), 0.5), "b": torch.full((1, *SHAPE), 0.5)}
    config = GeneralizeConfig(sizes=(1,), steps=(1,), samples=4, holdout=6, diffusion=FAST, copy_psnr=-100.0)
    metrics, arrays = compare({"a": Amplifier(x["a"][0]), "b": OneImage(x["b"][0])}, x, torch.rand(6, *SHAPE), config)
    a, b = metrics["models"]["a"], metrics["models"]["b"]
    assert a["sampling"]["status"] == ["diverged"] * 4 and (a["converged"], b["converged"]) == (0, 4)
    assert (a["memorised"], b["memorised"]) == (0, 4)  # every sample passes the −100 dB rule; only converged ones count
    assert metrics["pair"]["both_converged"] == 0 and metrics["pair"]["cosine_median"] is None
    assert arrays["converged"].tolist() == [[False] * 4, [True] * 4]
    sizes = [{"n": n, **metrics} for n in (1, 1000)]
    verdict = generalize_finding({"sizes": sizes, "copy_rule": "planted"})
    assert verdict["verdict"] == TOO_FEW and "converged" in verdict["reason"]


class Overshoot(OneImage):
    """D(y) = x₀ + α(y − x₀) with α < 0: it removes more than the noise, so σ̂ = (1 − α)σ overstates σ."""

    alpha = -0.1

    def __call__(self, y: torch.Tensor) -> torch.Tensor:
        x0 = self.mean.view(SHAPE).to(y.dtype)
        return x0 + self.alpha * (y - x0)

    def residual(self, y: torch.Tensor) -> torch.Tensor:
        return self(y) - y


def test_a_denoiser_that_removes_more_than_the_noise_stalls_at_small_beta_and_the_command_says_so():
    """Each step removes a share β·h of the noise and injects γ ∝ σ̂ = 1.1σ: at β = 0.01 the noise grows
    ((1 − β)²·1.21 > 1 as h → 1), at β = 0.5 it shrinks — the w8 N = 1 model of issue 24 (α ≈ −0.02) in closed form."""
    from denoscope.generalization import sampling_notes

    x = {"a": torch.full((1, *SHAPE), 0.5), "b": torch.full((1, *SHAPE), 0.5)}
    held = torch.rand(6, *SHAPE)
    statuses = {}
    for beta in (0.01, 0.5):
        config = GeneralizeConfig(sizes=(1,), steps=(1,), samples=8, holdout=6, diffusion=DiffusionConfig(h0=0.05, max_steps=400, beta=beta))
        metrics, _ = compare({"a": Overshoot(x["a"][0]), "b": OneImage(x["b"][0])}, x, held, config)
        statuses[beta] = metrics["models"]["a"]["sampling"]["status"]
        notes = sampling_notes({"config": {"diffusion": {"diverge": 4.0}}, "sizes": [{"n": 1, **metrics}]})
        assert metrics["models"]["b"]["converged"] == 8 and not any("model b" in line for line in notes)
    assert "converged" not in statuses[0.01] and statuses[0.5] == ["converged"] * 8
    assert notes == [] and sampling_notes({"config": {"diffusion": {"diverge": 4.0}}, "sizes": [{"n": 1, "models": {
        "a": {"sampling": {"status": ["max_steps", "converged", "max_steps", "diverged"]}}, "b": {"sampling": {"status": ["converged"] * 4}}}}]}) == [
        "N=1 model a: 2 of 4 samples stopped at --max-steps with σ̂ above --sigma-final (σ̂ stalled; a larger --beta removes "
        "more noise per step) and are not counted",
        "N=1 model a: 1 of 4 samples diverged (σ̂ grew past 4× its start) and are not counted"]


def test_the_train_psnr_is_measured_on_a_random_sample_of_the_set_not_its_first_images():
    """A set from a class-folder source is in class order: its first `holdout` images are one class. Planted: four
    images the model knows perfectly, then twelve it does not; the train PSNR must see both kinds."""
    from denoscope.generalization import denoising_gap

    easy = torch.full((4, *SHAPE), 0.5)
    train_images = torch.cat([easy, torch.rand(12, *SHAPE)])
    config = GeneralizeConfig(sizes=(16,), steps=(1,), holdout=4, eval_sigmas=(0.1,))
    gap = denoising_gap(OneImage(easy[0]), train_images, torch.rand(4, *SHAPE), config)["0.1"]
    assert gap["train"] < 40 < denoising_gap(OneImage(easy[0]), easy, torch.rand(4, *SHAPE), config)["0.1"]["train"]


def train_with_seeds(tmp_path, seeds):
    """Two tiny models trained on the same four images with the given seeds, and their samples from one start and seed."""
    torch.manual_seed(0)
    images = torch.rand(4, 1, 8, 8)
    write_npz(tmp_path / "set.npz", images=as_uint8(images))
    write_npz(tmp_path / "held.npz", images=as_uint8(torch.rand(4, 1, 8, 8)))
    config = GeneralizeConfig(sizes=(4,), steps=(3,), preset="tiny", batch_size=2, holdout=4, samples=2, diffusion=DiffusionConfig(h0=0.05, max_steps=60))
    runs = [train_model(tmp_path / "set.npz", tmp_path / "held.npz", tmp_path / f"run{i}", config, 3, s) for i, s in enumerate(seeds)]
    mean = torch.full((1, 8, 8), 0.5)
    return [draw_samples(load_denoiser(r), mean, config).samples for r in runs]


@pytest.mark.slow
def test_two_models_trained_on_the_same_data_with_the_same_seed_give_the_same_samples(tmp_path):
    first, second, other = train_with_seeds(tmp_path, (7, 7, 8))
    assert torch.equal(first, second) and not torch.equal(first, other)


def test_bad_generalize_input_is_one_sentence_and_leaves_no_files(tmp_path):
    runner = CliRunner()
    for args, words in ((["--sizes", "50", "--holdout", "10"], "need 110"), (["--sizes", "1", "2", "--steps", "5", "--steps", "6", "--steps", "7"], "one per size"),
                        (["--sizes", "0"], "distinct positive"), (["--preset", "huge"], "unknown preset"),
                        (["--workers", "0"], "workers (models trained at once) must be at least 1")):
        out = tmp_path / "bad"
        done = runner.invoke(app, ["generalize", "--data", "synthetic:shapes?n=40&size=8", "--out", str(out), *args])
        assert done.exit_code == 1 and "error:" in done.output and words in done.output and "Traceback" not in done.output, done.output
        assert not out.exists()


def test_models_trained_in_worker_processes_are_the_ones_trained_in_this_process(tmp_path, capsys):
    from denoscope.checkpoint import read_tensors
    from denoscope.generalization import generalize

    config = GeneralizeConfig(sizes=(1, 4), steps=(6,), preset="tiny", batch_size=4, holdout=8, samples=2,
                              diffusion=DiffusionConfig(h0=0.05, max_steps=50))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as each of the two workers below: the same arithmetic, bit for bit
    try:
        alone = generalize("synthetic:shapes?n=40&size=8&seed=2", tmp_path / "alone", config)
        capsys.readouterr()
        pooled = generalize("synthetic:shapes?n=40&size=8&seed=2", tmp_path / "pooled", config, workers=2, progress=True)
    finally:
        torch.set_num_threads(threads)
    assert sorted(line for line in capsys.readouterr().out.splitlines() if line.startswith("trained ")) == [
        f"trained {tmp_path / 'pooled' / run}" for run in ("N-000001/a", "N-000001/b", "N-000004/a", "N-000004/b")]
    for run in ("N-000001/a", "N-000001/b", "N-000004/a", "N-000004/b"):
        one, two = (read_tensors(tmp_path / where / run / "model.safetensors")[0] for where in ("alone", "pooled"))
        assert one.keys() == two.keys() and all(torch.equal(one[k], two[k]) for k in one), run
    strip = lambda sizes: [{k: v for k, v in m.items() if k != "runs"} for m in sizes]  # noqa: E731
    assert strip(pooled.metrics["sizes"]) == strip(alone.metrics["sizes"])


@pytest.mark.slow
def test_the_generalize_command_trains_resumes_and_draws(tmp_path):
    out = tmp_path / "gen"
    args = ["generalize", "--data", "synthetic:shapes?n=40&size=8&seed=2", "--sizes", "1", "4", "--steps", "6", "--preset", "tiny",
            "--batch-size", "4", "--holdout", "8", "--samples", "2", "--h0", "0.05", "--max-steps", "200", "--out", str(out)]
    done = CliRunner().invoke(app, args)
    assert done.exit_code == 0, done.output
    metrics = json.loads((out / "metrics.json").read_text())
    assert [m["n"] for m in metrics["sizes"]] == [1, 4] and "≥ 25 dB" in metrics["copy_rule"]
    assert {"generalize.png", "pairs-000001.png", "pairs-000004.png", "generalize.npz"} <= {p.name for p in out.iterdir()}
    weights = (out / "N-000004" / "a" / "model.safetensors").stat().st_mtime_ns
    again = CliRunner().invoke(app, args)  # every model is at its budget: nothing retrains, the numbers are the same
    assert again.exit_code == 0 and (out / "N-000004" / "a" / "model.safetensors").stat().st_mtime_ns == weights
    assert json.loads((out / "metrics.json").read_text())["sizes"] == metrics["sizes"]


def test_the_transition_figure_draws_when_no_sample_converged(tmp_path):
    from denoscope.reporting.generalize_figures import transition_figure

    sizes, samples = np.array([1, 2]), 3
    a = {"sizes": sizes, "eval_sigmas": np.array([0.1]), "converged": np.zeros((2, 2, samples), bool),
         "pair_cosine": np.ones((2, samples)), "own_cosine": np.ones((2, 2, samples)), "other_cosine": np.ones((2, 2, samples)),
         "train_psnr": np.ones((2, 2, 1)), "test_psnr": np.zeros((2, 2, 1))}
    transition_figure(a, tmp_path / "t.png")
    assert (tmp_path / "t.png").stat().st_size > 0
