"""Every stage keeps its tensors on the device of its inputs, checked on a CPU-only machine (tests/simulated_device.py),
and CUDA set-up asks for an indexed device."""

import copy

import numpy as np
import pytest
import torch

import denoscope.runtime as runtime
import denoscope.training as train_module
from denoscope import rng
from denoscope.config import RunOptions, TrainConfig, model_config
from denoscope.denoiser import Denoiser
from denoscope.nn.unet import BlindUNet
from simulated_device import DeviceMixed, on_device, simulated_device

TINY = model_config("tiny")


def test_the_simulated_device_refuses_to_mix_and_keeps_data():
    with simulated_device() as dev:
        x = torch.arange(6.0).reshape(2, 3).to(dev)
        assert on_device(x, x * 2, x.sum()) and float(x.sum()) == 15.0 and bool((x > 4).any())
        assert (x + torch.tensor(1.0)).cpu().tolist() == [[1, 2, 3], [4, 5, 6]]  # 0-dim CPU mixes, as on CUDA
        with pytest.raises(DeviceMixed):
            x + torch.ones(3)


def test_keys_live_on_the_device_of_their_parts():
    with simulated_device() as dev:
        images = torch.arange(5, device=dev)
        keys = rng.key(7, images, 2)
        assert on_device(keys, rng.normal(keys, (3, 4, 4)), rng.uniform(keys), rng.image_noise((1, 2, 2), 7, images))
        same = rng.key(7, torch.arange(5), 2)
    assert torch.equal(keys.cpu(), same)


def test_a_training_step_stays_on_the_device():
    """batch_items → DeviceBatches → denoising_loss → backward → Adam → EMA, all on the other device."""
    from denoscope.data import Transform, open_source
    from denoscope.data.memory import DeviceBatches, decode_all

    images = open_source("synthetic:shapes?n=16&size=16&seed=1")
    config = TrainConfig(data="x", batch_size=4, ema=0.9)
    schedule = train_module.Schedule(len(images), config.batch_size, config.seed)
    with simulated_device() as dev:
        model = BlindUNet(TINY).to(dev)
        ema = copy.deepcopy(model).requires_grad_(False)
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
        batches = DeviceBatches(decode_all(images, np.arange(len(images)), Transform()), dev)
        positions, keys = train_module.batch_items(schedule, 0, 0, 1, dev)
        x = batches.batch(positions, keys, flip=True)
        loss = train_module.denoising_loss(model, x, keys, config, TINY.head)
        loss.backward()
        optimizer.step()
        train_module.update_ema(ema, model, 0.5)
        assert on_device(positions, keys, x, loss, *model.parameters(), *ema.parameters())
        assert np.isfinite(loss.item())


@pytest.fixture
def fake_cuda(monkeypatch):
    """torch.cuda as on a machine with two GPUs, current device 0; set_device records what it was given."""
    given = []
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)
    monkeypatch.setattr(torch.cuda, "set_device", given.append)
    for name in ("WORLD_SIZE", "RANK", "LOCAL_RANK"):
        monkeypatch.delenv(name, raising=False)
    return given


@pytest.mark.parametrize("name, index", [("cuda", 0), ("cuda:1", 1), (None, 0)])
def test_init_distributed_sets_an_indexed_cuda_device(fake_cuda, name, index):
    rank, world, device = runtime.init_distributed(name)
    assert (rank, world) == (0, 1)
    assert len(fake_cuda) == 1
    given = torch.device("cuda", fake_cuda[0]) if isinstance(fake_cuda[0], int) else fake_cuda[0]
    assert given.type == "cuda" and given.index == index  # torch.cuda.set_device(torch.device("cuda")) raises
    assert device == torch.device("cuda", index)


def test_every_stage_resolves_cuda_to_an_indexed_device(fake_cuda):
    assert runtime.resolve_device("cuda") == torch.device("cuda", 0)
    assert runtime.resolve_device("cuda:1") == torch.device("cuda", 1)


def sim_denoiser(dev) -> Denoiser:
    torch.manual_seed(0)
    return Denoiser(BlindUNet(TINY).to(dev))


SHAPES = "synthetic:shapes?n=4&size=16&seed=2"


def test_heldout_and_denoise_run_on_the_model_device():
    from denoscope.data import open_source
    from denoscope.evaluate import denoise, heldout_psnr

    images = open_source(SHAPES)
    with simulated_device() as dev:
        denoiser = sim_denoiser(dev)
        clean = torch.rand(3, 3, 16, 16).to(dev)
        scores = heldout_psnr(denoiser, clean, (0.1,))
        result = denoise(denoiser, images, (0.2,), batch_size=4, examples=2)
    metrics, examples = result.metrics, result.arrays["examples"]
    assert np.isfinite(scores["psnr"]["0.1"]) and np.isfinite(metrics["sigma"]["0.2"]["ssim"])
    assert examples["denoised"].shape == (1, 2, 16, 16, 3)


def test_a_represent_batch_runs_on_the_model_device(tmp_path):
    from denoscope.data import open_source
    from denoscope.representation import RepConfig, Representation, represent
    from denoscope.denoiser import noise_averaged_means

    images = open_source(SHAPES)
    with simulated_device() as dev:
        denoiser = sim_denoiser(dev)
        x = torch.rand(2, 3, 16, 16).to(dev)
        means = noise_averaged_means(denoiser, x, torch.tensor([4, 5], device=dev), (0.0, 0.2), 3, 0, ("enc1", "mid"), True)
        assert on_device(*means.values())
        model = tmp_path / "model.safetensors"
        model.write_bytes(b"weights")
        represent(denoiser, images, RepConfig(sigmas=(0.0, 0.1), draws=2, blocks=("mid",), maps=2), tmp_path / "rep", model,
                  batch_images=4)
    assert Representation(tmp_path / "rep").phi(0.1).shape == (4, TINY.mid_width)


@pytest.mark.parametrize("task", ["pixels", "box", "superres", "deblur", "cs"])
def test_measurement_operators_stay_on_the_device(task):
    from denoscope.sampling.operators import make_operator

    with simulated_device() as dev:
        x = torch.rand(2, 3, 8, 8).to(dev)
        operator = make_operator(task, (3, 8, 8)).to(dev)
        x_c = operator.measure(x)
        assert on_device(x_c, operator.adjoint(x_c), operator.project(x), operator.pseudo_inverse(x_c))
        assert on_device(make_operator(task, (3, 8, 8)).measure(x))  # an operator left on the CPU follows x


def test_a_few_reverse_diffusion_steps_stay_on_the_device():
    from denoscope.sampling.engine import DiffusionConfig, reverse_diffusion, start_from
    from denoscope.sampling.operators import make_operator

    with simulated_device() as dev:
        denoiser = sim_denoiser(dev)
        operator = make_operator("pixels", (3, 8, 8), fraction=0.5).to(dev)
        start = start_from(torch.full((3, 8, 8), 0.5, device=dev), 2, seed=1)
        for given in ({}, {"operator": operator, "measurement": operator.measure(torch.rand(2, 3, 8, 8).to(dev))}):
            result = reverse_diffusion(denoiser, start, 1, DiffusionConfig(max_steps=3), **given)
            assert on_device(start, result.samples, result.final) and result.steps.max() <= 3


def test_guidance_and_the_distance_stay_on_the_device():
    from denoscope.sampling.distance import density_distance, sigma_grid
    from denoscope.sampling.engine import DiffusionConfig, reverse_diffusion, start_from
    from denoscope.sampling.guidance import GuidanceConfig, PhiMatching, target_from_images, target_from_rep
    from denoscope.sampling.stages import conditional_residual, phi_error

    guidance = GuidanceConfig(max_iters=1)
    with simulated_device() as dev:
        denoiser = sim_denoiser(dev)
        x = torch.rand(2, 3, 8, 8).to(dev)
        target = target_from_images(denoiser, x, [0, 1], (0.05, 0.2, 0.5), 2, 0)
        assert on_device(target.sigmas, target.table)
        cpu_target = target_from_rep(np.array([0.05, 0.5]), np.ones((2, 2, TINY.mid_width)))  # a target left on the CPU
        assert on_device(PhiMatching(denoiser, cpu_target, guidance)(x, torch.full((2,), 0.1, device=dev), torch.arange(2, device=dev)))
        start = start_from(torch.full((3, 8, 8), 0.5, device=dev), 2, seed=1)
        result = reverse_diffusion(denoiser, start, 1, DiffusionConfig(max_steps=2), guidance=PhiMatching(denoiser, target, guidance))
        assert on_device(result.samples)
        rows = torch.arange(2, device=dev)
        assert np.isfinite(phi_error(denoiser, result.samples, target, rows, 0.2, 2, 0)).all()
        f1 = conditional_residual(denoiser, target, 0, guidance)
        est = density_distance(f1, lambda y, sigma: denoiser.residual(y), x[:1], x[1:], sigma_grid(0.05, 0.5, 2))
    assert np.isfinite(est["d2"])


def test_the_adaptive_basis_stays_on_the_device():
    from denoscope.analysis.jacobian import adaptive_basis, jacobian

    with simulated_device() as dev:
        denoiser = sim_denoiser(dev)
        x = torch.rand(3, 4, 4).to(dev)
        assert on_device(jacobian(denoiser, x, rows_per_pass=16))
        result = adaptive_basis(denoiser, x, (0.1, 0.4), top=2, rows_per_pass=16)
    per_sigma = result.metrics["per_sigma"]
    assert [m["sigma"] for m in per_sigma] == [0.1, 0.4] and all(np.isfinite(m["trace"]) for m in per_sigma)
    assert result.arrays["jacobian"]["eigenvectors"].shape == (2, 2, 3, 4, 4)


def test_generalization_samples_and_scores_stay_on_the_device():
    """The sampling, nearest-image and train/test PSNR of one N on the other device; the numbers come back to the CPU."""
    from denoscope.generalization import GeneralizeConfig, compare
    from denoscope.sampling.engine import DiffusionConfig

    config = GeneralizeConfig(sizes=(2,), steps=(1,), samples=2, holdout=2, eval_sigmas=(0.2,),
                              diffusion=DiffusionConfig(max_steps=2, sigma_final=10.0))  # converged at once: counted
    with simulated_device() as dev:
        models = {"a": sim_denoiser(dev), "b": sim_denoiser(dev)}
        sets = {"a": torch.rand(2, 3, 8, 8), "b": torch.rand(2, 3, 8, 8)}
        metrics, arrays = compare(models, sets, torch.rand(2, 3, 8, 8), config)
    assert metrics["pair"]["cosine_median"] > 0.99  # one network, the same start and keyed noise
    assert np.isfinite(metrics["models"]["a"]["denoising"]["0.2"]["gap"]) and arrays["a"].shape == (2, 3, 8, 8)
