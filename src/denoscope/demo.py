"""The end-to-end pipeline on the built-in synthetic set, sized for a laptop CPU."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console

from .checkpoint import load_denoiser
from .config import RunOptions, TrainConfig, model_config
from .data import open_source
from .evaluate import evaluate_images, summary_lines, write_denoise_report
from .io import check_writable
from .train import train

SIGMAS = (0.05, 0.1, 0.2, 0.4, 1.0)


@dataclass(frozen=True)
class Recipe:
    """The demo's model and training budget (found by the experiments in benchmarks/RESULTS.md)."""

    preset: str = "paper-small"
    steps: int = 600
    batch_size: int = 16
    lr: float = 2e-3
    lr_halve_every: float = 1.0
    sigma_max: float = 1.0
    ema: float | None = None
    train_images: int = 4096
    test_images: int = 64
    size: int = 32


FULL = Recipe()
QUICK = Recipe(steps=40, train_images=256, test_images=8)


def run_demo(out: str | Path, seed: int = 0, quick: bool = False, console: Console | None = None) -> dict:
    """Train → denoise on synthetic shapes; a rerun starts afresh in `out`."""
    console = console or Console(stderr=True)
    recipe = QUICK if quick else FULL
    out = Path(out)
    check_writable(out, "demo output folder")
    train_source = f"synthetic:shapes?n={recipe.train_images}&size={recipe.size}&seed={seed}"
    test_source = f"synthetic:shapes?n={recipe.test_images}&size={recipe.size}&seed={seed + 1000}"
    run = out / "run"
    if run.exists():
        shutil.rmtree(run)
    config = TrainConfig(data=train_source, batch_size=recipe.batch_size, holdout=64, lr=recipe.lr,
                         lr_halve_every=recipe.lr_halve_every,
                         sigma_max=recipe.sigma_max, ema=recipe.ema, seed=seed, eval_sigmas=SIGMAS)
    options = RunOptions(steps=recipe.steps, eval_every=max(1, recipe.steps // 4), checkpoint_every=recipe.steps)
    console.print(f"[bold]1/2 train[/] {recipe.preset} on {train_source} for {recipe.steps} steps → {run}")
    weights = train(model_config(recipe.preset), config, options, run)
    console.print(f"[bold]2/2 denoise[/] {test_source} → {out / 'denoise'}")
    metrics, examples = evaluate_images(load_denoiser(weights), open_source(test_source), SIGMAS, seed=seed)
    written = write_denoise_report(out / "denoise", metrics, examples)
    for line in summary_lines(metrics):
        console.print(line)
    console.print("outputs: " + ", ".join(map(str, [weights, *written])))
    return metrics
