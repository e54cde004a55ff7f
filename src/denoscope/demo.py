"""The end-to-end pipeline on the built-in synthetic set, sized for a laptop CPU."""

from __future__ import annotations

import shutil
from pathlib import Path

from rich.console import Console

from .checkpoint import load_denoiser
from .config import TrainConfig, model_config
from .data import open_source
from .evaluate import evaluate_images, summary_lines, write_denoise_report
from .train import train

TRAIN_SOURCE = "synthetic:shapes?n=4096&size=32&seed=0"
TEST_SOURCE = "synthetic:shapes?n=64&size=32&seed=1"


def run_demo(out: str | Path, steps: int = 400, preset: str = "small", console: Console | None = None) -> dict:
    """Train → denoise on synthetic shapes; a rerun starts afresh in `out`."""
    console = console or Console(stderr=True)
    out = Path(out)
    run = out / "run"
    if run.exists():
        shutil.rmtree(run)
    config = TrainConfig(data=TRAIN_SOURCE, steps=steps, batch_size=32, holdout=128, eval_every=max(1, steps // 4), checkpoint_every=steps)
    console.print(f"[bold]1/2 train[/] {preset} on {TRAIN_SOURCE} for {steps} steps → {run}")
    weights = train(model_config(preset), config, run)
    console.print(f"[bold]2/2 denoise[/] {TEST_SOURCE} → {out / 'denoise'}")
    images = open_source(TEST_SOURCE)
    metrics, examples = evaluate_images(load_denoiser(weights), images, (0.05, 0.1, 0.2, 0.4), seed=0)
    write_denoise_report(out / "denoise", metrics, examples)
    for line in summary_lines(metrics):
        console.print(line)
    console.print(f"outputs: {weights}, {out / 'denoise' / 'metrics.json'}, {out / 'denoise' / 'denoised.png'}")
    return metrics
