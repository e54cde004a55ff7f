import pytest
import torch
from typer.testing import CliRunner

from denoscope.checkpoint import save_weights
from denoscope.cli import app
from denoscope.config import ModelConfig
from denoscope.nn.unet import BlindUNet

TWO_LEVEL = ModelConfig(widths=(8, 16), mid_width=16, enc_depth=2, mid_depth=1, dec_depth=2)


@pytest.fixture(scope="module")
def two_level_weights(tmp_path_factory):
    """An untrained two-level UNet's weights (torch seed 0): for tests of a stage's mechanics, not of a trained model."""
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("model") / "model.safetensors"
    save_weights(path, BlindUNet(TWO_LEVEL))
    return path


@pytest.fixture(scope="session")
def demo_out(tmp_path_factory):
    """`denoscope demo --quick` run once for every test that reads its folders; (folder, CLI output)."""
    out = tmp_path_factory.mktemp("demo") / "demo"
    done = CliRunner().invoke(app, ["demo", "--quick", "--out", str(out), "--seed", "3"])
    assert done.exit_code == 0, done.output
    return out, done.output
