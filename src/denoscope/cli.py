"""One thin command per stage of the data flow; the logic lives in the library."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, NoReturn, Optional

import typer
from rich.console import Console

from .checkpoint import CheckpointError
from .data import DataError

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Train blind denoising UNets and open them up.")
console = Console(stderr=True, soft_wrap=True)
FAILURES = (DataError, CheckpointError, ValueError, FileExistsError, FileNotFoundError, RuntimeError)


def fail(error: Exception) -> NoReturn:
    console.print(f"[bold red]error:[/] {error}")
    raise typer.Exit(1)


@app.command()
def train(
    data: Annotated[str, typer.Option(help="Image source: folder, .tar, .npz/.npy or synthetic:NAME.")],
    out: Annotated[Path, typer.Option(help="Run directory to create (or continue with --resume).")],
    preset: Annotated[str, typer.Option(help="Model preset: paper, small or tiny.")] = "small",
    steps: Annotated[Optional[int], typer.Option(help="Train for this many optimiser steps.")] = None,
    epochs: Annotated[Optional[int], typer.Option(help="Train for this many epochs (instead of --steps).")] = None,
    batch_size: Annotated[int, typer.Option(help="Global batch size (split across torchrun processes).")] = 128,
    image_size: Annotated[Optional[int], typer.Option(help="Crop/resize images to SIZE×SIZE.")] = None,
    resize: Annotated[str, typer.Option(help="How to reach --image-size: resize, center-crop or random-patch.")] = "resize",
    flip: Annotated[bool, typer.Option(help="Random horizontal flips.")] = True,
    sigma_max: Annotated[float, typer.Option(help="Largest training noise std (images in [0, 1]).")] = 1.0,
    sigma_dist: Annotated[str, typer.Option(help="inv-sqrt (density ∝ 1/√σ, the paper's) or uniform.")] = "inv-sqrt",
    lr: Annotated[float, typer.Option(help="Adam learning rate.")] = 1e-3,
    lr_halve_every: Annotated[float, typer.Option(help="Halve the learning rate every this many epochs.")] = 100.0,
    ema: Annotated[Optional[float], typer.Option(help="Keep an EMA of the weights with this decay (e.g. 0.999).")] = None,
    val_data: Annotated[Optional[str], typer.Option(help="Held-out source; default: a seeded split of --data.")] = None,
    holdout: Annotated[int, typer.Option(help="Held-out images for the PSNR check.")] = 512,
    skip: Annotated[Optional[bool], typer.Option("--skip/--no-skip", help="Override the preset's skip connections.")] = None,
    bias: Annotated[Optional[bool], typer.Option("--bias/--no-bias", help="Override the preset's conv biases.")] = None,
    head: Annotated[Optional[str], typer.Option(help="Override the output head: image or residual.")] = None,
    norm: Annotated[Optional[str], typer.Option(help="Normalise by the batch std (the authors') or the running std in training too.")] = None,
    channels: Annotated[Optional[int], typer.Option(help="Image channels (1 or 3); default: the data's.")] = None,
    seed: Annotated[int, typer.Option(help="Seed of the weights, data order and noise.")] = 0,
    log_every: Annotated[int, typer.Option(help="Steps between loss lines in metrics.jsonl.")] = 20,
    eval_every: Annotated[int, typer.Option(help="Steps between held-out PSNR checks.")] = 500,
    checkpoint_every: Annotated[int, typer.Option(help="Steps between checkpoints.")] = 500,
    workers: Annotated[int, typer.Option(help="DataLoader worker processes.")] = 0,
    amp: Annotated[bool, typer.Option(help="bf16 autocast on CUDA.")] = True,
    resume: Annotated[bool, typer.Option(help="Continue the run in --out from its last checkpoint (its config.toml decides model and data).")] = False,
) -> None:
    """Train a blind denoiser: MSE at σ drawn per image, checkpoints in OUT/."""
    from .config import TrainConfig, model_config
    from .train import train as run_training

    try:
        mc = model_config(preset, skip=skip, bias=bias, head=head, norm=norm)
        tc = TrainConfig(
            data=data, val_data=val_data, channels=channels, holdout=holdout, image_size=image_size, resize=resize, flip=flip,
            batch_size=batch_size, steps=steps, epochs=epochs, lr=lr, lr_halve_every=lr_halve_every,
            sigma_max=sigma_max, sigma_dist=sigma_dist, ema=ema, seed=seed, log_every=log_every,
            eval_every=eval_every, checkpoint_every=checkpoint_every, amp=amp, num_workers=workers,
        )
        weights = run_training(mc, tc, out, resume=resume)
    except FAILURES as e:
        fail(e)
    console.print(f"weights: {weights}\nlog: {out / 'metrics.jsonl'}\nconfig: {out / 'config.toml'}")


@app.command()
def denoise(
    model: Annotated[Path, typer.Option(help="Run directory or .safetensors checkpoint.")],
    data: Annotated[str, typer.Option(help="Image source: folder, .tar, .npz/.npy or synthetic:NAME.")],
    out: Annotated[Path, typer.Option(help="Directory for metrics.json, examples.npz and denoised.png.")],
    sigma: Annotated[list[float], typer.Option(help="Noise std(s) to evaluate (images in [0, 1]): --sigma 0.05 0.1 0.2.")] = [0.05, 0.1, 0.2],
    more_sigma: Annotated[Optional[list[float]], typer.Argument(hidden=True, help="Further σ after --sigma.")] = None,
    seed: Annotated[int, typer.Option(help="Seed of the added noise.")] = 0,
    max_images: Annotated[Optional[int], typer.Option(help="Evaluate only the first N images.")] = None,
    batch_size: Annotated[int, typer.Option(help="Images per forward pass.")] = 16,
    channels: Annotated[Optional[int], typer.Option(help="Convert the images to 1 or 3 channels first.")] = None,
    device: Annotated[str, typer.Option(help="cpu, cuda or cuda:N.")] = "cpu",
) -> None:
    """Add Gaussian noise with a fixed seed, denoise, and report PSNR/SSIM per σ."""
    from .checkpoint import load_denoiser
    from .data import open_source
    from .evaluate import evaluate_images, summary_lines, write_denoise_report

    try:
        images = open_source(data, channels=channels)
        net = load_denoiser(model, device=device, channels=images.channels)
        for note in images.notes:
            console.print(f"[yellow]note:[/] {note}")
        metrics, examples = evaluate_images(net, images, [*sigma, *(more_sigma or [])], seed=seed, batch_size=batch_size, max_images=max_images)
        write_denoise_report(out, metrics, examples)
    except FAILURES as e:
        fail(e)
    if metrics["padded"]:
        console.print(f"note: {metrics['padded']} image(s) padded ({metrics['padding']}) and cropped back")
    for line in summary_lines(metrics):
        console.print(line)
    console.print(f"outputs: {out / 'metrics.json'}, {out / 'examples.npz'}, {out / 'denoised.png'}")


@app.command()
def demo(
    out: Annotated[Path, typer.Option(help="Directory for the demo run and its outputs.")] = Path("demo-out"),
    steps: Annotated[int, typer.Option(help="Training steps on the synthetic set.")] = 400,
    preset: Annotated[str, typer.Option(help="Model preset.")] = "small",
) -> None:
    """Train on the built-in synthetic set, then evaluate denoising: the whole pipeline on a laptop."""
    from .demo import run_demo

    try:
        run_demo(out, steps=steps, preset=preset, console=console)
    except FAILURES as e:
        fail(e)
