"""Every stage keeps its tensors on the device of its inputs, checked on a CPU-only machine (tests/simulated_device.py),
and CUDA set-up asks for an indexed device."""

import copy

import numpy as np
import pytest
import torch

import denoscope.runtime as runtime
import denoscope.train as train_module
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
        loss = train_module.denoising_loss(model, x, keys, config)
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
