import pytest
import torch

from denoscope.checkpoint import load, load_denoiser, load_network, load_training_state, save_training_state, save_weights
from denoscope.config import model_config
from denoscope.denoiser import Denoiser
from denoscope.errors import CheckpointError
from denoscope.nn.unet import BlindUNet


def trained_tiny(**overrides) -> BlindUNet:
    model = BlindUNet(model_config("tiny", **{"norm": "batch", **overrides}))
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(generator=torch.Generator().manual_seed(p.numel()))
        model(torch.rand(4, model.config.channels, 8, 8))  # training-mode pass updates the running stds
    return model.eval()


def test_weights_round_trip_rebuilds_the_same_denoiser(tmp_path):
    model = trained_tiny(skip=True, head="residual")
    save_weights(tmp_path / "model.safetensors", model, step=7)
    loaded = load_denoiser(tmp_path / "model.safetensors")
    assert isinstance(loaded, Denoiser) and loaded.config == model.config and not loaded.net.training
    y = torch.rand(2, 3, 8, 8)
    with torch.no_grad():
        assert torch.equal(loaded(y), y - model(y))  # the residual head: D(y) = y − f(y)
    assert not list(tmp_path.glob(".*tmp*"))


def test_a_run_directory_means_its_weights(tmp_path):
    save_weights(tmp_path / "model.safetensors", trained_tiny())
    assert load_denoiser(tmp_path).config == model_config("tiny", norm="batch")
    d = load(tmp_path, device="cpu", batch_size=3)
    assert d.config == model_config("tiny", norm="batch") and d.batch_size == 3 and d.device == torch.device("cpu")
    assert d.source == tmp_path / "model.safetensors"


def test_mismatched_architecture_or_channels_is_refused_naming_both(tmp_path):
    save_weights(tmp_path / "model.safetensors", trained_tiny())
    with pytest.raises(CheckpointError, match="holds architecture .* but .* was requested"):
        load_denoiser(tmp_path, expect=model_config("small"))
    with pytest.raises(CheckpointError, match="3-channel images, but the data has 1 channel"):
        load_denoiser(tmp_path, channels=1)


def test_weights_that_do_not_fit_their_config_are_refused(tmp_path):
    from safetensors.torch import load_file, save_file
    from safetensors import safe_open

    save_weights(tmp_path / "model.safetensors", trained_tiny())
    with safe_open(str(tmp_path / "model.safetensors"), "pt") as f:
        meta = f.metadata()
    tensors = load_file(tmp_path / "model.safetensors")
    tensors["blocks.mid.0.0.weight"] = torch.zeros(1, 1, 3, 3)
    save_file(tensors, tmp_path / "bad.safetensors", metadata=meta)
    with pytest.raises(CheckpointError, match="does not match the model architecture.*wrong shape: blocks.mid.0.0.weight"):
        load_denoiser(tmp_path / "bad.safetensors")


def test_missing_or_foreign_files_are_named(tmp_path):
    with pytest.raises(CheckpointError, match="nothing.safetensors does not exist"):
        load_denoiser(tmp_path / "nothing.safetensors")
    (tmp_path / "junk.safetensors").write_bytes(b"\x00" * 64)
    with pytest.raises(CheckpointError, match="junk.safetensors is not a readable safetensors file"):
        load_denoiser(tmp_path / "junk.safetensors")


def test_training_state_restores_weights_ema_and_adam_moments(tmp_path):
    model, ema = trained_tiny().train(), trained_tiny().train()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    model(torch.rand(2, 3, 8, 8)).square().mean().backward()
    optimizer.step()
    save_training_state(tmp_path / "state.safetensors", model, optimizer, step=11, ema=ema)

    model2, ema2 = BlindUNet(model.config), BlindUNet(model.config)
    optimizer2 = torch.optim.Adam(model2.parameters(), lr=1e-3)
    assert load_training_state(tmp_path / "state.safetensors", model2, optimizer2, ema2) == 11
    for a, b in zip(model.state_dict().values(), model2.state_dict().values()):
        assert torch.equal(a, b)
    for a, b in zip(ema.state_dict().values(), ema2.state_dict().values()):
        assert torch.equal(a, b)
    s1, s2 = optimizer.state_dict()["state"], optimizer2.state_dict()["state"]
    assert s1.keys() == s2.keys()
    for k in s1:
        for name in ("exp_avg", "exp_avg_sq", "step"):
            assert torch.equal(s1[k][name], s2[k][name])
    # the training state is also a valid checkpoint for load_denoiser
    assert torch.equal(load_network(tmp_path / "state.safetensors").blocks["mid"][0][0].weight, model.blocks["mid"][0][0].weight)
