import json

import pytest

from denoscope.config import RunOptions, TrainConfig, model_config
from denoscope.training import train


@pytest.mark.slow
def test_small_preset_learns_to_denoise_synthetic_shapes(tmp_path):
    config = TrainConfig(data="synthetic:shapes?n=2048&size=32", batch_size=32, holdout=128, eval_sigmas=(0.2, 0.4))
    train(model_config("small"), config, RunOptions(steps=150, eval_every=150), tmp_path, progress=False)
    (scores,) = [r for r in map(json.loads, (tmp_path / "metrics.jsonl").read_text().splitlines()) if "psnr" in r]
    assert scores["psnr"]["0.2"] > scores["psnr_input"]["0.2"] + 2
    assert scores["psnr"]["0.4"] > scores["psnr_input"]["0.4"] + 5
