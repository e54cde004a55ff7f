import dataclasses

import pytest
import torch

from denoscope.config import PRESETS, ModelConfig, from_dict, model_config, to_dict
from denoscope.model import BlindUNet, count_parameters


@pytest.mark.parametrize("preset", list(PRESETS))
def test_every_preset_maps_images_to_images_with_named_blocks(preset):
    config = PRESETS[preset]
    model = BlindUNet(config).eval()
    y = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        out = model.forward_blocks(y)
    assert list(out) == list(config.block_names) == [*(f"enc{i}" for i in range(1, config.num_blocks + 1)), "mid", *(f"dec{i}" for i in range(config.num_blocks, 0, -1))]
    side = 32 // 2 ** (config.num_blocks)
    assert out["mid"].shape == (2, config.mid_width, side, side)
    for i, w in enumerate(config.widths, start=1):
        assert out[f"enc{i}"].shape == (2, w, 32 // 2 ** (i - 1), 32 // 2 ** (i - 1))
    assert model(y).shape == y.shape


def test_paper_preset_has_the_papers_parameter_count():
    # The paper's "~13 M" counts the UNet with skips; its representation models drop them (12.35 M, DESIGN.md).
    with_skip = count_parameters(BlindUNet(dataclasses.replace(PRESETS["paper"], skip=True)))
    assert abs(with_skip - 13e6) / 13e6 < 0.05
    assert abs(with_skip - 13.1e6) < 0.03e6
    assert abs(count_parameters(BlindUNet(PRESETS["paper"])) - 12.35e6) < 0.01e6


def test_block_and_layer_depths_follow_the_config():
    model = BlindUNet(PRESETS["paper"])
    convs = {name: sum(isinstance(m, torch.nn.Conv2d) for m in block.modules()) for name, block in model.blocks.items()}
    assert convs == {"enc1": 2, "enc2": 2, "enc3": 2, "mid": 3, "dec3": 6, "dec2": 6, "dec1": 6}
    assert not any(m.bias is not None for m in model.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.ConvTranspose2d)))


@pytest.mark.parametrize("skip", [False, True])
@pytest.mark.parametrize("head", ["image", "residual"])
def test_bias_free_network_is_homogeneous_of_degree_one(skip, head):
    model = BlindUNet(model_config("tiny", skip=skip, head=head))
    model.train()
    with torch.no_grad():
        model(torch.rand(4, 3, 16, 16))  # move the running stds away from 1
    model.eval()
    y = torch.randn(3, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        for alpha in (0.1, 2.5, 40.0):
            torch.testing.assert_close(model(alpha * y), alpha * model(y), rtol=1e-4, atol=1e-5)


def test_bias_breaks_homogeneity():
    model = BlindUNet(model_config("tiny", bias=True)).eval()
    y = torch.rand(2, 3, 16, 16)
    with torch.no_grad():
        assert not torch.allclose(model(3 * y), 3 * model(y), atol=1e-4)


def test_residual_head_predicts_the_noise():
    config = model_config("tiny", head="residual")
    model = BlindUNet(config).eval()
    y = torch.rand(1, 3, 8, 8)
    with torch.no_grad():
        assert torch.allclose(model(y), y - model.forward_blocks(y)["dec1"])


def test_stop_after_mid_never_runs_the_decoder():
    model = BlindUNet(PRESETS["tiny"]).eval()
    ran = []
    for name, block in model.blocks.items():
        block.register_forward_hook(lambda *_, name=name: ran.append(name))
    out = model.forward_blocks(torch.rand(1, 3, 8, 8), stop_after="mid", inputs=True)
    assert ran == ["enc1", "enc2", "mid"]
    assert set(out) == {"enc1", "enc1.in", "enc2", "enc2.in", "mid", "mid.in"}
    assert out["mid.in"].shape[-1] == 2


def test_skip_connections_feed_the_decoder_both_paths():
    model = BlindUNet(model_config("tiny", skip=True)).eval()
    out = model.forward_blocks(torch.rand(1, 3, 8, 8), inputs=True)
    assert out["dec1.in"].shape[1] == 2 * PRESETS["tiny"].widths[0]


def test_input_not_divisible_by_two_to_the_blocks_is_refused():
    model = BlindUNet(PRESETS["small"])
    with pytest.raises(ValueError, match="not divisible by 2\\^3 = 8"):
        model(torch.rand(1, 3, 36, 36))
    with pytest.raises(ValueError, match="N×3×H×W"):
        model(torch.rand(1, 1, 32, 32))


def test_config_round_trips_through_plain_dicts_and_refuses_unknown_fields():
    config = model_config("small", skip=True, channels=1)
    assert from_dict(ModelConfig, to_dict(config)) == config
    with pytest.raises(ValueError, match="unknown ModelConfig field"):
        from_dict(ModelConfig, {**to_dict(config), "depth": 3})
    with pytest.raises(ValueError, match="unknown preset"):
        model_config("huge")


def test_running_norm_computes_the_same_function_in_training_and_eval():
    model = BlindUNet(model_config("tiny", norm="running"))
    y = torch.rand(4, 3, 16, 16)
    with torch.no_grad():
        model.train()
        trained = model(y)  # updates the running stds, then divides by them
        assert torch.equal(trained, model.eval()(y))
        batch = BlindUNet(model_config("tiny")).train()
        batch.load_state_dict(model.state_dict())
        assert not torch.allclose(batch(y), trained)  # the authors' layer divides by this batch's std instead


def test_unknown_norm_is_refused():
    with pytest.raises(ValueError, match="norm must be 'batch'"):
        model_config("tiny", norm="layer")
