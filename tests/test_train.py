import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import denoscope.training as train_module
from denoscope.checkpoint import load_denoiser, load_network
from denoscope.config import RunOptions, TrainConfig, model_config
from denoscope.errors import ConfigError
from denoscope.io import STATE
from denoscope.nn.unet import BlindUNet
from denoscope.runtime import autocast
from denoscope.training import Schedule, TrainingDiverged, ema_decay, learning_rate, sample_sigma, train, update_ema

DATA = "synthetic:shapes?n=96&size=16&seed=3"
TINY = model_config("tiny")


def config(**overrides) -> TrainConfig:
    return TrainConfig(**{**dict(data=DATA, batch_size=8, holdout=16, eval_sigmas=(0.1, 0.2)), **overrides})


def options(**overrides) -> RunOptions:
    return RunOptions(**{**dict(steps=6, log_every=1, eval_every=3, checkpoint_every=3), **overrides})


def log(run: Path, key: str) -> list[dict]:
    return [r for r in map(json.loads, (run / "metrics.jsonl").read_text().splitlines()) if key in r]


@pytest.mark.parametrize("name, cdf", [("inv-sqrt", np.sqrt), ("uniform", lambda t: t)])
def test_sigma_follows_its_distribution(name, cdf):
    from denoscope import rng

    sigma = sample_sigma(rng.key(0, torch.arange(200_000)), 2.0, name).numpy()
    assert sigma.min() >= 0 and sigma.max() <= 2.0
    for t in (0.1, 0.25, 0.5, 0.9):
        assert abs((sigma <= 2.0 * t).mean() - cdf(t)) < 0.005


@pytest.mark.parametrize("head", ["image", "residual"])
def test_the_training_loss_is_the_mse_of_the_denoiser_every_stage_uses(head):
    """loss = mean ‖D(x + σz) − x‖² with σ, z keyed per image, and D the Denoiser's own D(y) (its head included)."""
    import torch.nn.functional as F

    from denoscope import rng
    from denoscope.denoiser import Denoiser

    torch.manual_seed(0)
    model = BlindUNet(model_config("tiny", head=head))
    x = torch.rand(6, 3, 16, 16)
    keys = rng.key(3, torch.arange(6))
    loss = train_module.denoising_loss(model, x, keys, config(), head)
    y = x + sample_sigma(keys, 1.0, "inv-sqrt").view(-1, 1, 1, 1) * rng.normal(keys, x.shape[1:])
    with torch.no_grad():
        f = model.forward_blocks(y)["dec1"]
        assert loss.item() == F.mse_loss(y - f if head == "residual" else f, x).item()
        assert loss.item() == F.mse_loss(Denoiser(model)(y), x).item()


def test_each_epoch_visits_every_image_once_and_ranks_split_the_batch():
    schedule = Schedule(n_train=40, batch_size=8, seed=1)
    epoch = [p for s in range(5) for _, p, _ in schedule.batch(s)]
    assert sorted(epoch) == list(range(40))
    assert [p for _, p, _ in schedule.batch(5)] != [p for _, p, _ in schedule.batch(0)]  # reshuffled
    both = schedule.batch(7, rank=0, world=2) + schedule.batch(7, rank=1, world=2)
    assert sorted(both) == sorted(schedule.batch(7))
    assert schedule.batch(7) == Schedule(40, 8, 1).batch(7)


def test_small_data_is_repeated_to_fill_a_batch_with_distinct_keys():
    items = Schedule(n_train=5, batch_size=8, seed=0).batch(0)
    assert len(items) == 8 and len(set(items)) == 8  # (epoch, image, occurrence) never repeats


def test_learning_rate_halves_every_k_epochs():
    c = config(lr=1e-3, lr_halve_every=2)
    assert [learning_rate(c, e) for e in range(5)] == [1e-3, 1e-3, 5e-4, 5e-4, 2.5e-4]


def test_ema_follows_its_closed_form():
    model, ema = BlindUNet(TINY), BlindUNet(TINY)
    e0 = [p.detach().clone() for p in ema.parameters()]
    target = [p.detach().clone() for p in model.parameters()]
    decay = 0.9
    for _ in range(5):
        update_ema(ema, model, decay)
    for e, p, start in zip(ema.parameters(), target, e0):  # e_k = p + decay^k (e_0 − p) for a fixed p
        torch.testing.assert_close(e, p + decay**5 * (start - p))


def test_the_ema_forgets_its_initial_weights_within_tens_of_steps():
    model, ema = BlindUNet(TINY), BlindUNet(TINY)
    e0 = [p.detach().clone() for p in ema.parameters()]
    target = [p.detach().clone() for p in model.parameters()]
    for step in range(5):
        update_ema(ema, model, ema_decay(0.999, step))
    share = (1 * 2 * 3 * 4 * 5) / (10 * 11 * 12 * 13 * 14)  # Π (1 + s)/(10 + s): the initial weights' share left
    for e, p, start in zip(ema.parameters(), target, e0):
        torch.testing.assert_close(e, p + share * (start - p))
    assert ema_decay(0.999, 10**6) == 0.999 and ema_decay(0.5, 0) == 0.1


def test_training_writes_a_loadable_run_and_learns(tmp_path):
    run = tmp_path / "run"
    weights = train(TINY, config(lr=3e-3), options(steps=40, eval_every=40, checkpoint_every=20), run, progress=False)
    assert {p.name for p in run.iterdir()} == {"config.toml", "metrics.jsonl", "model.safetensors", "checkpoint.safetensors", "stage.json"}
    losses = [r["loss"] for r in log(run, "loss")]
    assert len(losses) == 40
    assert np.mean(losses[-5:]) < 0.5 * np.mean(losses[:5])
    (scores,) = log(run, "psnr")
    assert scores["step"] == 40 and set(scores["psnr"]) == {"0.1", "0.2"}
    assert scores["psnr"]["0.2"] > scores["psnr_input"]["0.2"]  # it denoises already
    assert abs(scores["psnr_input"]["0.1"] - 20.0) < 0.3
    assert load_denoiser(weights).config == TINY


def test_resume_reproduces_the_uninterrupted_run_bit_for_bit(tmp_path):
    train(TINY, config(), options(steps=9), tmp_path / "full", progress=False)
    train(TINY, config(), options(steps=3), tmp_path / "cut", progress=False)
    train(TINY, config(), options(steps=9, log_every=2), tmp_path / "cut", resume=True, progress=False)
    full, cut = log(tmp_path / "full", "loss"), log(tmp_path / "cut", "loss")
    assert [r["step"] for r in cut] == [1, 2, 3, 4, 6, 8, 9]  # the log interval is a runtime setting
    assert [r["loss"] for r in cut[:4]] == [r["loss"] for r in full[:4]] and cut[-1]["loss"] == full[-1]["loss"]
    assert cut[4]["loss"] == pytest.approx((full[4]["loss"] + full[5]["loss"]) / 2)
    assert log(tmp_path / "cut", "psnr") == log(tmp_path / "full", "psnr")
    a, b = load_network(tmp_path / "full"), load_network(tmp_path / "cut")
    for x, y in zip(a.state_dict().values(), b.state_dict().values()):
        assert torch.equal(x, y)


def test_run_configs_merge_a_preset_or_the_resumed_run_with_the_overrides(tmp_path):
    from denoscope.config import scaled
    from denoscope.training import run_configs, write_config

    mc, tc = run_configs(tmp_path, preset="tiny", model_overrides=dict(head="residual", norm=None), train_overrides=dict(data=DATA, lr=None, seed=4))
    assert mc == model_config("tiny", head="residual") and tc == TrainConfig(data=DATA, seed=4)
    assert run_configs(tmp_path, train_overrides=dict(data=DATA))[0] == model_config("small")  # the default preset
    assert run_configs(tmp_path, preset="tiny", train_overrides=dict(data=DATA), width=16)[0] == scaled(model_config("tiny"), 16)
    with pytest.raises(ConfigError, match="data is required"):
        run_configs(tmp_path, preset="tiny", resume=True)  # nothing to resume: a new run, which needs data
    old_model, old = model_config("tiny", channels=1, norm="batch"), config(seed=2)
    write_config(tmp_path, old_model, old)
    (tmp_path / STATE).write_bytes(b"")
    mc, tc = run_configs(tmp_path, resume=True, model_overrides=dict(bias=False), train_overrides=dict(lr=0.01))
    assert mc == model_config("tiny", channels=1, norm="batch", bias=False) and tc == config(seed=2, lr=0.01)
    mc, _ = run_configs(tmp_path, resume=True, preset="paper-small")
    assert mc == model_config("paper-small", channels=1)  # a preset replaces the model, the run's channels stay


def test_the_held_out_images_are_the_holdout_stream_of_the_seed():
    """From `data` or from `val_data`: rng.choose(n, holdout, seed, "holdout"), and never a training image."""
    from denoscope import rng
    from denoscope.data import Transform, open_source, stack_images

    images = open_source(DATA)
    held = rng.choose(len(images), 16, 5, "holdout")
    _, trainset, heldout = train_module.load_data(config(seed=5))
    assert torch.equal(heldout, stack_images(images, held, Transform()))
    assert not set(trainset.indices) & set(held) and len(trainset) == len(images) - 16
    val = "synthetic:shapes?n=40&size=16&seed=8"
    _, trainset, heldout = train_module.load_data(config(seed=5, val_data=val))
    assert torch.equal(heldout, stack_images(open_source(val), rng.choose(40, 16, 5, "holdout"), Transform()))
    assert len(trainset) == len(images)


def test_resume_refuses_a_changed_definition_by_name(tmp_path):
    train(TINY, config(), options(steps=3), tmp_path, progress=False)
    with pytest.raises(ConfigError, match=r"lr was 0.001, now 0.01"):
        train(TINY, config(lr=1e-2), options(steps=6), tmp_path, resume=True, progress=False)
    with pytest.raises(ConfigError, match=r"norm was 'layer', now 'batch'"):
        train(model_config("tiny", norm="batch"), config(), options(steps=6), tmp_path, resume=True, progress=False)
    with pytest.raises(ConfigError, match="already at step 3"):
        train(TINY, config(), options(steps=3), tmp_path, resume=True, progress=False)


def test_resume_survives_a_torn_last_line_of_the_log(tmp_path):
    train(TINY, config(), options(steps=3), tmp_path, progress=False)
    with open(tmp_path / "metrics.jsonl", "a") as f:
        f.write('{"step": 4, "lo')
    train(TINY, config(), options(steps=5), tmp_path, resume=True, progress=False)
    assert [r["step"] for r in log(tmp_path, "loss")] == [1, 2, 3, 4, 5]


def test_an_existing_run_is_not_overwritten(tmp_path):
    train(TINY, config(), options(steps=3), tmp_path, progress=False)
    with pytest.raises(ConfigError, match="already holds a training run"):
        train(TINY, config(), options(steps=3), tmp_path, progress=False)


def test_divergence_stops_and_keeps_the_last_good_checkpoint(tmp_path, monkeypatch):
    calls = []

    def poisoned(keys, sigma_max, name):
        calls.append(1)
        sigma = sample_sigma(keys, sigma_max, name)
        return sigma * float("nan") if len(calls) == 5 else sigma

    monkeypatch.setattr(train_module, "sample_sigma", poisoned)
    with pytest.raises(TrainingDiverged, match=r"loss is nan at step 5.*last good checkpoint \(step 3\)"):
        train(TINY, config(), options(steps=9), tmp_path, progress=False)
    model = load_network(tmp_path / STATE)
    assert all(torch.isfinite(p).all() for p in model.parameters())
    assert max(r["step"] for r in log(tmp_path, "loss")) == 4


def test_a_huge_learning_rate_never_saves_infinite_weights(tmp_path):
    with pytest.raises(TrainingDiverged, match="Try a smaller learning rate"):
        train(model_config("tiny", norm="running"), config(lr=1e6), options(steps=30, checkpoint_every=1), tmp_path, progress=False)
    if (tmp_path / "model.safetensors").exists():
        assert all(torch.isfinite(t).all() for t in load_network(tmp_path).state_dict().values())


def test_ema_weights_are_what_model_safetensors_holds(tmp_path):
    train(TINY, config(ema=0.5), options(steps=4), tmp_path, progress=False)
    from safetensors.torch import load_file

    state = load_file(tmp_path / STATE)
    weights = load_file(tmp_path / "model.safetensors")
    key = "blocks.mid.0.0.weight"
    assert torch.equal(weights[key], state["ema." + key])
    assert not torch.equal(weights[key], state["model." + key])


@pytest.mark.parametrize("bad, message", [
    (dict(steps=0), "steps must be at least 1"),
    (dict(steps=-1), "steps must be at least 1"),
    (dict(steps=None, epochs=0), "epochs must be at least 1"),
    (dict(log_every=0), "log_every must be at least 1"),
    (dict(checkpoint_every=0), "checkpoint_every must be at least 1"),
])
def test_zero_or_negative_counts_are_refused(bad, message):
    with pytest.raises(ConfigError, match=message):
        options(**bad)


@pytest.mark.parametrize("bad, message", [
    (dict(lr_halve_every=0), "lr_halve_every must be a positive"),
    (dict(sigma_max=float("nan")), "sigma_max must be a positive finite"),
    (dict(holdout=0), "holdout must be at least 1"),
])
def test_bad_training_values_are_refused(bad, message):
    with pytest.raises(ConfigError, match=message):
        config(**bad)


def test_a_source_of_one_image_is_refused_before_anything_is_written(tmp_path):
    with pytest.raises(ConfigError, match="holds 1 image"):
        train(TINY, config(data="synthetic:shapes?n=1&size=16"), options(), tmp_path / "run", progress=False)
    assert not (tmp_path / "run").exists()


def test_a_kill_during_a_checkpoint_write_leaves_the_last_good_checkpoint(tmp_path):
    train(TINY, config(), options(steps=3), tmp_path, progress=False)
    before = load_network(tmp_path / STATE).state_dict()
    code = f"""
import os, safetensors.torch as st
real = st.save_file
def dying(tensors, path, metadata=None):
    real(dict(list(tensors.items())[:2]), path, metadata=metadata)
    os._exit(9)
st.save_file = dying
import denoscope.checkpoint as c
c.save_file = dying
from denoscope.training import train
from denoscope.config import RunOptions, TrainConfig, model_config
train(model_config("tiny"), TrainConfig(data={DATA!r}, batch_size=8, holdout=16, eval_sigmas=(0.1, 0.2)),
      RunOptions(steps=6, log_every=1, eval_every=3, checkpoint_every=3), {str(tmp_path)!r}, resume=True, progress=False)
"""
    assert subprocess.run([sys.executable, "-c", code]).returncode == 9
    after = load_network(tmp_path / STATE).state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    train(TINY, config(), options(steps=6), tmp_path, resume=True, progress=False)  # resumes, and cleans the temporary
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def torchrun(nproc: int, out: Path) -> subprocess.CompletedProcess:
    cmd = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(nproc),
        "-m", "denoscope", "train", "--data", DATA, "--preset", "tiny", "--out", str(out),
        "--steps", "4", "--batch-size", "8", "--holdout", "16", "--log-every", "1", "--eval-every", "4", "--device", "cpu",
    ]
    return subprocess.run(cmd, env={**os.environ, "OMP_NUM_THREADS": "1"}, capture_output=True, text=True, timeout=240)


def test_one_and_two_processes_compute_the_same_run(tmp_path):
    for n in (1, 2):
        done = torchrun(n, tmp_path / str(n))
        assert done.returncode == 0, done.stderr[-2000:]
    one, two = log(tmp_path / "1", "loss"), log(tmp_path / "2", "loss")
    assert [r["step"] for r in two] == [1, 2, 3, 4]
    np.testing.assert_allclose([r["loss"] for r in two], [r["loss"] for r in one], rtol=1e-4)
    a, b = load_network(tmp_path / "1"), load_network(tmp_path / "2")
    for x, y in zip(a.state_dict().values(), b.state_dict().values()):
        torch.testing.assert_close(x, y, rtol=1e-3, atol=1e-5)


def test_the_in_memory_path_trains_exactly_as_the_loader_path(tmp_path):
    for name, in_memory in (("memory", True), ("loader", False)):
        train(TINY, config(flip=False), options(in_memory=in_memory, cache_dir=str(tmp_path / "cache")), tmp_path / name, progress=False)
    assert [r["loss"] for r in log(tmp_path / "memory", "loss")] == [r["loss"] for r in log(tmp_path / "loader", "loss")]
    (cache,) = (tmp_path / "cache").glob("*.npy")
    assert np.load(cache, mmap_mode="r").shape == (80, 16, 16, 3)  # 96 images less 16 held out


def test_amp_is_bf16_autocast_where_asked_and_fp32_on_the_cpu_by_default():
    conv = torch.nn.Conv2d(3, 4, 3)
    x = torch.rand(1, 3, 8, 8)
    for amp, dtype in ((None, torch.float32), (False, torch.float32), (True, torch.bfloat16)):
        with autocast(torch.device("cpu"), amp):
            assert conv(x).dtype == dtype


def test_a_bf16_run_on_the_cpu_learns_like_fp32_and_resumes_exactly(tmp_path):
    for name, amp in (("fp32", None), ("bf16", True)):
        train(TINY, config(lr=3e-3), options(steps=30, eval_every=30, checkpoint_every=30, amp=amp), tmp_path / name, progress=False)
    train(TINY, config(lr=3e-3), options(steps=12, eval_every=30, checkpoint_every=12, amp=True), tmp_path / "cut", progress=False)
    train(TINY, config(lr=3e-3), options(steps=30, eval_every=30, checkpoint_every=30, amp=True), tmp_path / "cut", resume=True, progress=False)
    fp32, bf16 = (np.array([r["loss"] for r in log(tmp_path / n, "loss")]) for n in ("fp32", "bf16"))
    assert not np.array_equal(fp32, bf16)  # autocast really ran
    assert np.mean(bf16[-5:]) < 0.5 * np.mean(bf16[:5])
    np.testing.assert_allclose(np.mean(bf16[-5:]), np.mean(fp32[-5:]), rtol=0.1)
    assert log(tmp_path / "cut", "loss")[-1]["loss"] == bf16[-1]


def test_the_foreach_ema_equals_the_per_parameter_lerp():
    torch.manual_seed(0)
    model, ema = BlindUNet(model_config("tiny", norm="running")), BlindUNet(model_config("tiny", norm="running"))
    for b in model.buffers():
        b.uniform_(1, 2)
    reference = [p.detach().clone() for p in ema.parameters()]
    for step in range(3):
        update_ema(ema, model, ema_decay(0.9, step))
        for r, p in zip(reference, model.parameters()):
            r.lerp_(p.detach(), 1 - ema_decay(0.9, step))
    for r, e in zip(reference, ema.parameters()):
        assert torch.equal(r, e)
    assert all(torch.equal(e, b) for e, b in zip(ema.buffers(), model.buffers()))


def test_batches_gathered_on_the_device_are_the_schedules_batches():
    from denoscope import rng

    schedule = Schedule(n_train=10, batch_size=8, seed=4)
    for step in (0, 1, 2, 5):
        for rank in (0, 1):
            items = torch.tensor(schedule.batch(step, rank, 2))
            positions, keys = train_module.batch_items(schedule, step, rank, 2, torch.device("cpu"))
            assert torch.equal(positions, items[:, 1])
            assert torch.equal(keys, rng.key(4, items[:, 0], items[:, 1], items[:, 2]))


def test_fused_adam_keeps_the_loss_curve_and_resumes_either_way(tmp_path):
    for name, fused in (("plain", False), ("fused", True)):
        train(TINY, config(ema=0.9), options(fused_adam=fused), tmp_path / name, progress=False)
    plain, fused = (np.array([r["loss"] for r in log(tmp_path / n, "loss")]) for n in ("plain", "fused"))
    np.testing.assert_allclose(fused, plain, rtol=1e-5)
    train(TINY, config(ema=0.9), options(steps=3, fused_adam=True), tmp_path / "cut", progress=False)
    train(TINY, config(ema=0.9), options(fused_adam=False), tmp_path / "cut", resume=True, progress=False)
    np.testing.assert_allclose([r["loss"] for r in log(tmp_path / "cut", "loss")], plain, rtol=1e-5)


def test_a_failed_checkpoint_write_is_raised(tmp_path, monkeypatch):
    def full_disk(path, tensors, metadata):
        raise OSError("no space left on device")

    monkeypatch.setattr(train_module, "save_tensors", full_disk)
    with pytest.raises(OSError, match="no space left"):
        train(TINY, config(), options(steps=3), tmp_path, progress=False)


@pytest.mark.slow
def test_the_compiled_step_keeps_the_loss_curve_and_records_its_compile_time(tmp_path):
    for name, compiled in (("eager", False), ("compiled", True)):
        train(TINY, config(), options(compile=compiled), tmp_path / name, progress=False)
    eager, compiled = (np.array([r["loss"] for r in log(tmp_path / n, "loss")]) for n in ("eager", "compiled"))
    np.testing.assert_allclose(compiled, eager, rtol=1e-4)
    (record,) = log(tmp_path / "compiled", "compile_seconds")
    assert record["step"] == 1 and record["compile_seconds"] > 0


def test_a_default_compile_that_fails_falls_back_to_eager_and_says_so(tmp_path, monkeypatch):
    def broken(fn, mode=None):
        def call(*args):
            raise RuntimeError("no C compiler found\nmore")
        return call

    monkeypatch.setattr(train_module, "on_cuda_by_default", lambda choice, device: True if choice is None else choice)
    monkeypatch.setattr(torch, "compile", broken)
    train(TINY, config(), options(), tmp_path / "default", progress=False)
    (record,) = log(tmp_path / "default", "compile_error")
    assert "RuntimeError: no C compiler found" in record["compile_error"] and len(log(tmp_path / "default", "loss")) == 6
    with pytest.raises(RuntimeError, match="no C compiler"):
        train(TINY, config(), options(compile=True), tmp_path / "asked", progress=False)
