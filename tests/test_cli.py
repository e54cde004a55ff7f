import json

import numpy as np
from PIL import Image
from typer.testing import CliRunner

from denoscope.cli import app

DATA = "synthetic:shapes?n=48&size=16&seed=5"
runner = CliRunner()


def invoke(*args: str):
    return runner.invoke(app, [str(a) for a in args])


def test_train_then_denoise_through_the_cli(tmp_path):
    run, out = tmp_path / "run", tmp_path / "eval"
    done = invoke("train", "--data", DATA, "--preset", "tiny", "--out", run, "--steps", "4", "--batch-size", "8", "--holdout", "8", "--eval-every", "2")
    assert done.exit_code == 0, done.output
    assert "model.safetensors" in done.output
    config = (run / "config.toml").read_text()
    assert 'data = "synthetic:shapes?n=48&size=16&seed=5"' in config and "steps = 4" in config

    done = invoke("denoise", "--model", run, "--data", "synthetic:shapes?n=6&size=18&seed=9", "--sigma", "0.1", "0.3", "--out", out)
    assert done.exit_code == 0, done.output
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["images"] == 6 and set(metrics["sigma"]) == {"0.1", "0.3"}
    assert metrics["padded"] == 6 and "padded" in done.output  # 18 is not a multiple of 4
    assert abs(metrics["sigma"]["0.1"]["psnr_input"] - 20) < 0.5
    again = invoke("denoise", "--model", run, "--data", "synthetic:shapes?n=2&size=16", "--sigma", "0.2", "--sigma", "0.4", "--out", out)
    assert again.exit_code == 0, again.output
    assert set(json.loads((out / "metrics.json").read_text())["sigma"]) == {"0.2", "0.4"}


def test_bad_inputs_exit_non_zero_with_one_clear_sentence(tmp_path):
    done = invoke("train", "--data", tmp_path / "missing", "--preset", "tiny", "--out", tmp_path / "run", "--steps", "2")
    assert done.exit_code == 1
    assert "error:" in done.output and "missing" in done.output and "no such file" in done.output
    assert not (tmp_path / "run").exists()

    done = invoke("train", "--data", DATA, "--preset", "tiny", "--out", tmp_path / "run", "--steps", "2", "--batch-size", "8", "--holdout", "8")
    assert done.exit_code == 0, done.output
    again = invoke("train", "--data", DATA, "--preset", "tiny", "--out", tmp_path / "run", "--steps", "2")
    assert again.exit_code == 1 and "--resume" in again.output

    gray = tmp_path / "gray"
    gray.mkdir()
    Image.fromarray(np.zeros((16, 16), np.uint8)).save(gray / "a.png")
    done = invoke("denoise", "--model", tmp_path / "run", "--data", gray, "--out", tmp_path / "eval")
    assert done.exit_code == 1 and "3-channel images, but the data has 1 channel" in done.output
    assert not (tmp_path / "eval").exists()

    done = invoke("train", "--data", DATA, "--preset", "huge", "--out", tmp_path / "r2", "--steps", "2")
    assert done.exit_code == 1 and "unknown preset 'huge'" in done.output
