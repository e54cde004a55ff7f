import dataclasses

import pytest
import torch
from safetensors.torch import load_file

from denoscope.checkpoint import load_denoiser
from denoscope.config import PRESETS, ModelConfig, from_dict, model_config, scaled, to_dict
from denoscope.denoiser import Denoiser
from denoscope.errors import ConfigError
from denoscope.nn.unet import BlindUNet

# Two encoder layers, so that enc1's output (and its skip) is normalised, as in the paper.
SMALL2 = dict(widths=(8, 16), mid_width=16, enc_depth=2, mid_depth=1, dec_depth=2)


def net(**overrides) -> BlindUNet:
    torch.manual_seed(0)
    model = BlindUNet(ModelConfig(**{**SMALL2, **overrides}))
    with torch.no_grad():  # biases away from zero, so a test that needs them to matter can see them
        for m in model.modules():
            if isinstance(m, torch.nn.Conv2d) and m.bias is not None:
                m.bias.uniform_(-0.5, 0.5)
    return model


def count_parameters(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def images(n: int = 4, seed: int = 0) -> torch.Tensor:
    return torch.rand(n, 3, 16, 16, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("preset", list(PRESETS))
def test_every_preset_maps_images_to_images_with_named_blocks(preset):
    config = PRESETS[preset]
    model = BlindUNet(config).eval()
    y = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        out = model.forward_blocks(y)
    expected = {2: ["enc1", "enc2", "mid", "dec2", "dec1"], 3: ["enc1", "enc2", "enc3", "mid", "dec3", "dec2", "dec1"]}
    n = config.num_blocks
    assert list(out) == list(config.block_names) == expected[n]
    side = 32 // 2**n
    assert out["mid"].shape == (2, config.mid_width, side, side)
    for i, w in enumerate(config.widths, start=1):
        assert out[f"enc{i}"].shape == (2, w, 32 // 2 ** (i - 1), 32 // 2 ** (i - 1))
    assert model(y).shape == y.shape


def test_paper_preset_is_the_2025_network_with_its_parameter_count_per_block():
    model = BlindUNet(PRESETS["paper"])
    c = model.config
    assert (c.norm, c.bias, c.skip, c.head) == ("layer", True, True, "image")
    per_block = {name: count_parameters(block) for name, block in model.blocks.items()}
    # 3×3 convs with bias, a gain per normalised channel; enc1's first and dec1's last layers are not normalised
    conv = lambda i, o: 9 * i * o + o  # noqa: E731
    assert per_block == {
        "enc1": conv(3, 64) + conv(64, 64) + 64,
        "enc2": conv(64, 128) + conv(128, 128) + 2 * 128,
        "enc3": conv(128, 256) + conv(256, 256) + 2 * 256,
        "mid": conv(256, 512) + 2 * conv(512, 512) + 3 * 512,
        "dec3": conv(512, 256) + 5 * conv(256, 256) + 6 * 256,
        "dec2": conv(256, 128) + 5 * conv(128, 128) + 6 * 128,
        "dec1": conv(128, 64) + 4 * conv(64, 64) + 5 * 64 + conv(64, 3),
    }
    assert {k: count_parameters(u) for k, u in model.up.items()} == {"dec3": 4 * 512 * 256, "dec2": 4 * 256 * 128, "dec1": 4 * 128 * 64}
    assert count_parameters(model) == 13_124_803
    assert count_parameters(BlindUNet(dataclasses.replace(c, bias=False))) == 13_119_744
    assert count_parameters(BlindUNet(PRESETS["bottleneck"])) == 12_350_659
    assert (PRESETS["paper-2023"].norm, PRESETS["paper-2023"].bias) == ("batch", False)


def test_receptive_field_of_the_paper_middle_block_is_84():
    model = BlindUNet(PRESETS["paper"])
    assert model.receptive_field("mid") == 84
    assert model.receptive_field("enc1") == 5 and model.receptive_field("enc2") == 14
    with pytest.raises(ConfigError, match="encoder and middle"):
        model.receptive_field("dec1")


def test_receptive_field_matches_where_the_gradient_reaches():
    # eval-mode batch norm is local (the per-image layer norm couples every position through its std)
    # positive weights and input keep every ReLU open, so no path is cut by chance (random weights made this flaky)
    model = BlindUNet(dataclasses.replace(scaled(PRESETS["paper-small"], 4), norm="batch")).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.fill_(0.05)
    y = torch.rand(1, 3, 128, 128).add(0.1).requires_grad_()
    mid = model.forward_blocks(y, stop_after="mid")["mid"]
    mid[0, :, 8, 8].sum().backward()
    rows = torch.nonzero(y.grad.abs().sum((0, 1, 3)))
    assert rows.max() - rows.min() + 1 == model.receptive_field("mid") == 84


def test_block_and_layer_depths_follow_the_config():
    model = BlindUNet(PRESETS["paper"])
    convs = {name: sum(isinstance(m, torch.nn.Conv2d) for m in block.modules()) for name, block in model.blocks.items()}
    assert convs == {"enc1": 2, "enc2": 2, "enc3": 2, "mid": 3, "dec3": 6, "dec2": 6, "dec1": 6}
    assert all(u.bias is None for u in model.up.values())


@pytest.mark.parametrize("train_mode", [False, True])
def test_layer_norm_output_of_an_image_is_the_same_alone_and_in_any_batch(train_mode):
    model = net().train(train_mode)
    y = images(6)
    with torch.no_grad():
        together = model(y)
        alone = torch.cat([model(y[i : i + 1]) for i in range(6)])
        shuffled = model(torch.cat([y[3:], images(5, seed=9), y[:3]]))
    torch.testing.assert_close(alone, together, rtol=0, atol=1e-5)
    torch.testing.assert_close(torch.cat([shuffled[-3:], shuffled[:3]]), together, rtol=0, atol=1e-5)


def test_layer_norm_divides_each_image_by_its_std_over_channels_and_space_together():
    from denoscope.nn.norms import LayerStd

    g = torch.Generator().manual_seed(0)
    x = torch.randn(3, 4, 5, 5, generator=g) * torch.tensor([0.1, 1.0, 10.0, 3.0]).view(1, 4, 1, 1)  # channels of unequal scale
    norm = LayerStd(4)
    with torch.no_grad():
        norm.gain.copy_(torch.tensor([1.0, 2.0, -0.5, 0.25]).view(1, 4, 1, 1))
        out = norm(x)
    flat = x.reshape(3, -1)
    std = torch.sqrt(((flat - flat.mean(1, keepdim=True)) ** 2).mean(1)).view(3, 1, 1, 1)  # one number per image, over C×H×W
    torch.testing.assert_close(out, x / (std + 1e-5) * norm.gain, rtol=1e-5, atol=1e-6)
    assert not torch.allclose(out[:, 0].std(), out[:, 2].std() / 0.5, rtol=0.5)  # an instance norm would equalise channels


def test_layer_norm_computes_the_same_function_in_train_and_eval_mode():
    model = net()
    y = images()
    with torch.no_grad():
        assert torch.equal(model.train()(y), model.eval()(y))


def test_without_biases_the_layer_norm_network_is_invariant_to_scale():
    model = net(bias=False).eval()
    for m in model.modules():
        if hasattr(m, "eps"):
            m.eps = 0.0  # std + eps: eps is the only departure from exact invariance
    y = images()
    with torch.no_grad():
        for alpha in (0.1, 2.5, 40.0):
            torch.testing.assert_close(model(alpha * y), model(y), rtol=1e-4, atol=1e-5)


def test_with_biases_the_layer_norm_network_sees_the_scale():
    model = net(bias=True).eval()
    y = images()
    with torch.no_grad():
        assert (model(3 * y) - model(y)).abs().max() > 1e-3


@pytest.mark.parametrize("skip", [False, True])
@pytest.mark.parametrize("head", ["image", "residual"])
def test_batch_norm_without_biases_is_homogeneous_of_degree_one_in_eval_mode(skip, head):
    model = net(norm="batch", bias=False, skip=skip, head=head).train()
    with torch.no_grad():
        model(torch.rand(4, 3, 16, 16))  # move the running stds away from 1
    d = Denoiser(model)  # eval mode, and the head: D(y) = y − f(y) or f(y)
    y = torch.randn(3, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        for alpha in (0.1, 2.5, 40.0):
            torch.testing.assert_close(d(alpha * y), alpha * d(y), rtol=1e-4, atol=1e-5)


def test_batch_norm_output_depends_on_the_batch_in_training():
    model = net(norm="batch").train()
    y = images(6)
    with torch.no_grad():
        assert not torch.allclose(model(y)[:1], model(y[:1]), atol=1e-4)


def test_running_norm_computes_the_same_function_in_training_and_eval():
    model = net(norm="running")
    y = images()
    with torch.no_grad():
        trained = model.train()(y)  # updates the running stds, then divides by them
        assert torch.equal(trained, model.eval()(y))
        batch = net(norm="batch").train()
        batch.load_state_dict(model.state_dict())
        assert not torch.allclose(batch(y), trained)  # the 2023 layer divides by this batch's std instead


@pytest.mark.parametrize("how", ["one", "authors"])
def test_gain_init(how):
    gains = torch.cat([m.gain.flatten() for m in BlindUNet(model_config("paper-small", gain_init=how)).modules() if hasattr(m, "gain")])
    if how == "one":
        assert torch.equal(gains, torch.ones_like(gains))
    else:
        assert gains.abs().max() <= 0.025 and 0.003 < gains.std() < 0.004 and abs(gains.mean()) < 0.0005


def test_stop_after_mid_never_runs_the_decoder():
    model = BlindUNet(PRESETS["tiny"]).eval()
    ran = []
    for name, block in model.blocks.items():
        block.register_forward_hook(lambda *_, name=name: ran.append(name))
    out = model.forward_blocks(torch.rand(1, 3, 8, 8), stop_after="mid", inputs=True)
    assert ran == ["enc1", "enc2", "mid"]
    assert set(out) == {"enc1", "enc1.in", "enc2", "enc2.in", "mid", "mid.in"}
    assert out["mid.in"].shape[-1] == 2


def test_skip_connections_carry_the_encoder_output_into_the_decoder():
    model = net().eval()
    out = model.forward_blocks(images(1), inputs=True)
    for i in (1, 2):
        w = SMALL2["widths"][i - 1]
        assert torch.equal(out[f"dec{i}.in"][:, :w], out[f"enc{i}"])
        up_input = out["mid"] if i == 2 else out["dec2"]
        assert torch.equal(out[f"dec{i}.in"][:, w:], model.up[f"dec{i}"](up_input))


def test_input_not_divisible_by_two_to_the_blocks_is_refused():
    model = BlindUNet(PRESETS["small"])
    with pytest.raises(ConfigError, match="not divisible by 2\\^3 = 8"):
        model(torch.rand(1, 3, 36, 36))
    with pytest.raises(ConfigError, match="N×3×H×W"):
        model(torch.rand(1, 1, 32, 32))


def test_config_round_trips_through_plain_dicts_and_refuses_unknown_values():
    config = model_config("small", skip=False, channels=1)
    assert from_dict(ModelConfig, to_dict(config)) == config
    with pytest.raises(ConfigError, match="unknown ModelConfig field"):
        from_dict(ModelConfig, {**to_dict(config), "depth": 3})
    with pytest.raises(ConfigError, match="unknown preset"):
        model_config("huge")
    with pytest.raises(ConfigError, match="norm must be one of layer, batch, running"):
        model_config("tiny", norm="group")
    assert scaled(PRESETS["paper"], 16).widths == (16, 32, 64) and scaled(PRESETS["paper"], 16).mid_width == 128


def test_a_checkpoint_written_before_the_norm_registry_loads_with_what_it_was_trained_with():
    """Written before the norm registry and before the Denoiser took over the head: D(y) is what it was."""
    d = load_denoiser("tests/data/pre-norm-registry-tiny.safetensors")
    assert (d.config.norm, d.config.bias, d.config.skip, d.config.head) == ("batch", False, True, "image")
    expected = load_file("tests/data/pre-norm-registry-tiny.expected.safetensors")
    with torch.no_grad():  # to float32 rounding: conv kernels differ between CPUs (AVX2 vs AVX-512) in the last bit
        torch.testing.assert_close(d(expected["y"]), expected["d"], rtol=0, atol=1e-6)
