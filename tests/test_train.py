import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import denoscope.train as train_module
from denoscope.checkpoint import STATE, load_denoiser
from denoscope.config import TrainConfig, model_config
from denoscope.train import Schedule, TrainingDiverged, derived_seed, learning_rate, sample_sigma, train

DATA = "synthetic:shapes?n=96&size=16&seed=3"


def config(**overrides) -> TrainConfig:
    base = dict(data=DATA, steps=6, batch_size=8, holdout=16, log_every=1, eval_every=3, checkpoint_every=3, eval_sigmas=(0.1, 0.2))
    return TrainConfig(**{**base, **overrides})


def log(run: Path, key: str) -> list[dict]:
    return [r for r in map(json.loads, (run / "metrics.jsonl").read_text().splitlines()) if key in r]


@pytest.mark.parametrize("name, cdf", [("inv-sqrt", np.sqrt), ("uniform", lambda t: t)])
def test_sigma_follows_its_distribution(name, cdf):
    sigma = sample_sigma(200_000, 2.0, name, torch.Generator().manual_seed(0)).numpy()
    assert sigma.min() >= 0 and sigma.max() <= 2.0
    for t in (0.1, 0.25, 0.5, 0.9):
        assert abs((sigma <= 2.0 * t).mean() - cdf(t)) < 0.005


def test_each_epoch_visits_every_image_once_and_ranks_split_the_batch():
    schedule = Schedule(n_train=40, batch_size=8, seed=1)
    epoch = [p for s in range(5) for p, _ in schedule.batch(s)]
    assert sorted(epoch) == list(range(40))
    assert [p for p, _ in schedule.batch(5)] != [p for p, _ in schedule.batch(0)]  # reshuffled
    both = schedule.batch(7, rank=0, world=2) + schedule.batch(7, rank=1, world=2)
    assert sorted(both) == sorted(schedule.batch(7))
    assert schedule.batch(7) == Schedule(40, 8, 1).batch(7)


def test_small_data_is_repeated_to_fill_a_batch():
    assert len(Schedule(n_train=5, batch_size=8, seed=0).batch(0)) == 8


def test_learning_rate_halves_every_k_epochs():
    c = config(lr=1e-3, lr_halve_every=2)
    assert [learning_rate(c, e) for e in range(5)] == [1e-3, 1e-3, 5e-4, 5e-4, 2.5e-4]


def test_seeds_differ_by_part():
    assert len({derived_seed(0, s) for s in range(1000)} | {derived_seed(1, s) for s in range(1000)}) == 2000


def test_training_writes_a_loadable_run_and_learns(tmp_path):
    run = tmp_path / "run"
    weights = train(model_config("tiny"), config(steps=40, eval_every=40, checkpoint_every=20, lr=3e-3), run, progress=False)
    assert {p.name for p in run.iterdir()} == {"config.toml", "metrics.jsonl", "model.safetensors", "checkpoint.safetensors"}
    losses = [r["loss"] for r in log(run, "loss")]
    assert len(losses) == 40
    assert np.mean(losses[-5:]) < 0.5 * np.mean(losses[:5])
    (scores,) = log(run, "psnr")
    assert scores["step"] == 40 and set(scores["psnr"]) == {"0.1", "0.2"}
    assert scores["psnr"]["0.2"] > scores["psnr_input"]["0.2"]  # it denoises already
    assert abs(scores["psnr_input"]["0.1"] - 20.0) < 0.3
    assert load_denoiser(weights).config == model_config("tiny")


def test_resume_reproduces_the_uninterrupted_loss_sequence(tmp_path):
    train(model_config("tiny"), config(steps=9), tmp_path / "full", progress=False)
    train(model_config("tiny"), config(steps=3), tmp_path / "cut", progress=False)
    train(model_config("tiny"), config(steps=9), tmp_path / "cut", resume=True, progress=False)
    full, cut = log(tmp_path / "full", "loss"), log(tmp_path / "cut", "loss")
    assert [r["step"] for r in cut] == list(range(1, 10))
    assert [r["loss"] for r in cut] == [r["loss"] for r in full]
    assert log(tmp_path / "cut", "psnr") == log(tmp_path / "full", "psnr")
    a, b = load_denoiser(tmp_path / "full"), load_denoiser(tmp_path / "cut")
    for x, y in zip(a.state_dict().values(), b.state_dict().values()):
        assert torch.equal(x, y)


def test_an_existing_run_is_not_overwritten(tmp_path):
    train(model_config("tiny"), config(steps=3), tmp_path, progress=False)
    with pytest.raises(FileExistsError, match="pass --resume"):
        train(model_config("tiny"), config(steps=3), tmp_path, progress=False)


def test_divergence_stops_and_keeps_the_last_good_checkpoint(tmp_path, monkeypatch):
    calls = []

    def poisoned(n, sigma_max, name, generator):
        calls.append(n)
        sigma = sample_sigma(n, sigma_max, name, generator)
        return sigma * float("nan") if len(calls) == 5 else sigma

    monkeypatch.setattr(train_module, "sample_sigma", poisoned)
    with pytest.raises(TrainingDiverged, match=r"loss is nan at step 5.*last good checkpoint \(step 3\)"):
        train(model_config("tiny"), config(steps=9), tmp_path, progress=False)
    model = load_denoiser(tmp_path / STATE)
    assert all(torch.isfinite(p).all() for p in model.parameters())
    assert max(r["step"] for r in log(tmp_path, "loss")) == 4


def test_ema_weights_are_what_model_safetensors_holds(tmp_path):
    train(model_config("tiny"), config(steps=4, ema=0.5), tmp_path, progress=False)
    from safetensors.torch import load_file

    state = load_file(tmp_path / STATE)
    weights = load_file(tmp_path / "model.safetensors")
    key = "blocks.mid.0.0.weight"
    assert torch.equal(weights[key], state["ema." + key])
    assert not torch.equal(weights[key], state["model." + key])


def test_ddp_with_gloo_on_two_processes(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [
        sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", "29531",
        "-m", "denoscope", "train", "--data", DATA, "--preset", "tiny", "--out", str(tmp_path),
        "--steps", "4", "--batch-size", "8", "--holdout", "16", "--log-every", "1", "--eval-every", "4",
    ]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-2000:]
    assert [r["step"] for r in log(tmp_path, "loss")] == [1, 2, 3, 4]
    assert log(tmp_path, "psnr")[0]["step"] == 4
    assert load_denoiser(tmp_path).config.widths == model_config("tiny").widths
