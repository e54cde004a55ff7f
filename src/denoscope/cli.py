"""One thin command per stage of the data flow; the logic lives in the library."""

from __future__ import annotations

import dataclasses
import functools
import inspect
import warnings
from pathlib import Path
from typing import Annotated, Any, Callable, Optional

import typer
from rich.console import Console

from .config import PRESET_HELP, RunOptions, TrainConfig
from .denoiser import CHUNK
from .errors import ConfigError, DenoscopeError, Note
from .progress import labelled
from .sampling.engine import DiffusionConfig
from .sampling.guidance import GuidanceConfig

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Train blind denoising UNets and open them up.")
console = Console(stderr=True, soft_wrap=True)


def say_version(asked: bool) -> None:
    if asked:
        import torch

        from . import __version__

        print(f"denoscope {__version__} (torch {torch.__version__})")
        raise typer.Exit()


@app.callback()
def main(version: Annotated[bool, typer.Option("--version", callback=say_version, is_eager=True,
                                               help="Print denoscope's and torch's versions and exit.")] = False) -> None:
    """Train blind denoising UNets and open them up."""


def default(cls: type, name: str) -> Any:
    return next(f.default for f in dataclasses.fields(cls) if f.name == name)


def say_note(show: Callable) -> Callable:
    """Notes (errors.Note) as one yellow line; every other warning as Python shows it."""

    def showwarning(message, category, *args, **kwargs):
        if issubclass(category, Note):
            say_notes([str(message)])
        else:
            show(message, category, *args, **kwargs)

    return showwarning


def say_notes(notes: list[str]) -> None:
    """Each note as one yellow line, its text verbatim."""
    for note in notes:
        console.print(labelled("note:", note), highlight=False)


# how an interrupted command carries on where it stopped
CONTINUE = {"train": "train --out RUN --resume continues the run", "represent": "the same represent command continues the REP"}


def stage(fn: Callable) -> Callable:
    """The user's mistakes become one red sentence and exit 1; Ctrl-C exits 130; anything else is a bug and shows its traceback."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            with warnings.catch_warnings():
                warnings.showwarning = say_note(warnings.showwarning)
                return fn(*args, **kwargs)
        except DenoscopeError as e:
            console.print(labelled("error:", str(e), "bold red"), highlight=False)
            raise typer.Exit(1)
        except KeyboardInterrupt:
            console.print(labelled("interrupted:", f"files already written are complete; {CONTINUE.get(fn.__name__, 'run the command again to redo it')}"))
            raise typer.Exit(130)

    return wrapper


PRESET_LIST = "; ".join(f"{k}: {v}" for k, v in PRESET_HELP.items())
DATA_HELP = "Image source: folder, .tar, .npz/.npy or synthetic:NAME; A+B joins sources."


@app.command()
@stage
def train(
    out: Annotated[Path, typer.Option(help="Run directory to create (or continue with --resume).")],
    data: Annotated[Optional[str], typer.Option(help=DATA_HELP + " Required for a new run.")] = None,
    preset: Annotated[Optional[str], typer.Option(help=f"Model preset (default small). {PRESET_LIST}.")] = None,
    steps: Annotated[Optional[int], typer.Option(help="Train until this many optimiser steps.")] = None,
    epochs: Annotated[Optional[int], typer.Option(help="Train until this many epochs (instead of --steps).")] = None,
    batch_size: Annotated[Optional[int], typer.Option(help=f"Global batch size, split across torchrun processes (default {default(TrainConfig, 'batch_size')}).")] = None,
    image_size: Annotated[Optional[int], typer.Option(help="Crop/resize images to SIZE×SIZE.")] = None,
    resize: Annotated[Optional[str], typer.Option(help="How to reach --image-size: resize, center-crop or random-patch.")] = None,
    flip: Annotated[Optional[bool], typer.Option("--flip/--no-flip", help="Random horizontal flips (default on).")] = None,
    sigma_max: Annotated[Optional[float], typer.Option(help=f"Largest training noise std, images in [0, 1] (default {default(TrainConfig, 'sigma_max')}).")] = None,
    sigma_dist: Annotated[Optional[str], typer.Option(help="inv-sqrt (density ∝ 1/√σ, the paper's; default) or uniform.")] = None,
    lr: Annotated[Optional[float], typer.Option(help=f"Adam learning rate (default {default(TrainConfig, 'lr')}).")] = None,
    lr_halve_every: Annotated[Optional[float], typer.Option(help=f"Halve the learning rate every this many epochs (default {default(TrainConfig, 'lr_halve_every')}).")] = None,
    ema: Annotated[Optional[float], typer.Option(help="Keep an EMA of the weights with this decay (e.g. 0.999); model.safetensors holds it.")] = None,
    val_data: Annotated[Optional[str], typer.Option(help="Held-out source; default: a seeded split of --data.")] = None,
    holdout: Annotated[Optional[int], typer.Option(help=f"Held-out images for the PSNR check (default {default(TrainConfig, 'holdout')}).")] = None,
    skip: Annotated[Optional[bool], typer.Option("--skip/--no-skip", help="Override the preset's UNet skip connections.")] = None,
    bias: Annotated[Optional[bool], typer.Option("--bias/--no-bias", help="Override the preset's conv biases.")] = None,
    head: Annotated[Optional[str], typer.Option(help="Override the output head: image (predicts x̂) or residual (predicts the noise).")] = None,
    norm: Annotated[Optional[str], typer.Option(help="Override the normalisation: layer (per image), batch (the 2023 layer) or running.")] = None,
    gain_init: Annotated[Optional[str], typer.Option(help="Initial normalisation gains: one, or authors (small random, ±0.025).")] = None,
    width: Annotated[Optional[int], typer.Option(help="Override the first block's width; the others keep the preset's ratios.")] = None,
    channels: Annotated[Optional[int], typer.Option(help="Image channels (1 or 3); default: the data's.")] = None,
    seed: Annotated[Optional[int], typer.Option(help="Seed of the weights, data order and noise (default 0).")] = None,
    eval_sigma: Annotated[Optional[list[float]], typer.Option(help=f"σ of the held-out PSNR check, repeatable (default {' '.join(map(str, default(TrainConfig, 'eval_sigmas')))}).")] = None,
    log_every: Annotated[int, typer.Option(help="Steps between loss lines in metrics.jsonl.")] = default(RunOptions, "log_every"),
    eval_every: Annotated[int, typer.Option(help="Steps between held-out PSNR checks.")] = default(RunOptions, "eval_every"),
    checkpoint_every: Annotated[int, typer.Option(help="Steps between checkpoints.")] = default(RunOptions, "checkpoint_every"),
    workers: Annotated[Optional[int], typer.Option(help="DataLoader worker processes (default: 0 on CPU, up to 8 on CUDA).")] = None,
    device: Annotated[Optional[str], typer.Option(help="cpu, cuda or cuda:N (default: cuda when present).")] = None,
    amp: Annotated[Optional[bool], typer.Option("--amp/--no-amp", help="bf16 autocast (default: on CUDA only; --amp on a CPU with AVX512-BF16 or AMX trains ~1.3× faster).")] = None,
    compile: Annotated[Optional[bool], typer.Option("--compile/--no-compile", help="torch.compile the training step: keyed noise, network and loss in one graph (default: on CUDA only; its compile time goes to metrics.jsonl).")] = None,
    compile_mode: Annotated[str, typer.Option(help="torch.compile mode: default, reduce-overhead (CUDA graphs), max-autotune or max-autotune-no-cudagraphs.")] = default(RunOptions, "compile_mode"),
    fused_adam: Annotated[Optional[bool], typer.Option("--fused-adam/--no-fused-adam", help="Adam as one fused kernel (default: on CUDA only).")] = None,
    in_memory: Annotated[Optional[bool], typer.Option("--in-memory/--loader", help="Decode the training set once and batch on the device (default on CUDA), or decode per step in a DataLoader.")] = None,
    cache_dir: Annotated[Optional[Path], typer.Option(help="Keep the decoded training set here as a memory-mapped .npy, reused by later runs.")] = None,
    resume: Annotated[bool, typer.Option(help="Continue the run in --out from its last checkpoint; what defines it may not change.")] = False,
) -> None:
    """Train a blind denoiser: MSE at σ drawn per image, checkpoints in OUT/."""
    from .io import METRICS, RUN_CONFIG
    from .training import run_configs, train as run_training

    mc, tc = run_configs(
        out, resume, preset, width=width,
        model_overrides=dict(skip=skip, bias=bias, head=head, norm=norm, gain_init=gain_init),
        train_overrides=dict(data=data, val_data=val_data, channels=channels, holdout=holdout, image_size=image_size, resize=resize,
                             flip=flip, batch_size=batch_size, lr=lr, lr_halve_every=lr_halve_every, sigma_max=sigma_max,
                             sigma_dist=sigma_dist, ema=ema, seed=seed, eval_sigmas=tuple(eval_sigma) if eval_sigma else None),
    )
    options = RunOptions(steps=steps, epochs=epochs, log_every=log_every, eval_every=eval_every, checkpoint_every=checkpoint_every,
                         amp=amp, workers=workers, device=device, compile=compile, compile_mode=compile_mode, fused_adam=fused_adam,
                         in_memory=in_memory, cache_dir=str(cache_dir) if cache_dir else None)
    weights = run_training(mc, tc, options, out, resume=resume)
    console.print(f"weights: {weights}\nlog: {out / METRICS}\nconfig: {out / RUN_CONFIG}")


@app.command()
@stage
def denoise(
    model: Annotated[Path, typer.Option(help="Run directory or .safetensors checkpoint.")],
    data: Annotated[str, typer.Option(help=DATA_HELP)],
    out: Annotated[Path, typer.Option(help="Directory for metrics.json, examples.npz and denoised.png.")],
    sigma: Annotated[list[float], typer.Option(help="Noise std(s) to evaluate (images in [0, 1]): --sigma 0.05 0.1 0.2.")] = [0.05, 0.1, 0.2],
    more_sigma: Annotated[Optional[list[float]], typer.Argument(hidden=True, help="Further σ after --sigma.")] = None,
    seed: Annotated[int, typer.Option(help="Seed of the added noise.")] = 0,
    max_images: Annotated[Optional[int], typer.Option(help="Evaluate only the first N images.")] = None,
    batch_size: Annotated[int, typer.Option(help="Images per forward pass.")] = 16,
    channels: Annotated[Optional[int], typer.Option(help="Convert the images to 1 or 3 channels first.")] = None,
    device: Annotated[Optional[str], typer.Option(help="cpu, cuda or cuda:N (default: cuda when present).")] = None,
) -> None:
    """Add Gaussian noise with a fixed seed, denoise, and report PSNR/SSIM per σ."""
    from .checkpoint import load_denoiser
    from .data import open_source
    from .evaluate import check_sigmas, denoise as run, summary_lines
    from .io import check_writable
    from .reporting.figures import draw_denoise
    from .representation import check_training_range
    from .runtime import resolve_device

    sigmas = [*sigma, *(more_sigma or [])]
    check_sigmas(sigmas)
    check_writable(out, stage="denoise")
    images = open_source(data, channels=channels)
    net = load_denoiser(model, device=resolve_device(device), batch_size=batch_size, channels=images.channels)
    check_training_range(net, sigmas)
    say_notes(images.notes)
    result = run(net, images, sigmas, seed=seed, max_images=max_images, batch_size=batch_size, progress=True)
    examples, metrics = result.save(out)
    figures = draw_denoise(out)
    if result.metrics["padded"]:
        console.print(f"note: {result.metrics['padded']} image(s) padded ({result.metrics['padding']}) and cropped back")
    for line in summary_lines(result.metrics):
        console.print(line)
    console.print("outputs: " + ", ".join(map(str, [metrics, examples, *figures])))


@app.command()
@stage
def represent(
    model: Annotated[Path, typer.Option(help="Run directory or .safetensors checkpoint.")],
    data: Annotated[str, typer.Option(help=DATA_HELP)],
    out: Annotated[Path, typer.Option(help="REP directory to create (an interrupted one is resumed).")],
    sigma: Annotated[Optional[list[float]], typer.Option(help="Noise levels (images in [0, 1]); default: the authors' list clipped to the model's training range.")] = None,
    more_sigma: Annotated[Optional[list[float]], typer.Argument(hidden=True, help="Further σ after --sigma.")] = None,
    noise_draws: Annotated[int, typer.Option(help="Noise draws averaged per image and σ (one at σ = 0).")] = 20,
    blocks: Annotated[str, typer.Option(help="all, or block names joined by commas (enc1,mid,…).")] = "all",
    inputs: Annotated[bool, typer.Option("--inputs", help="Also the block inputs (figure 1 compares inputs and outputs).")] = False,
    max_images: Annotated[Optional[int], typer.Option(help="A seeded random subset of this many images.")] = None,
    image_size: Annotated[Optional[int], typer.Option(help="Centre-crop images to SIZE×SIZE.")] = None,
    maps: Annotated[int, typer.Option(help="Keep the middle block's activation maps of this many images (channel statistics).")] = 256,
    seed: Annotated[int, typer.Option(help="Seed of the noise draws and of --max-images.")] = 0,
    batch_size: Annotated[int, typer.Option(help="Images per batch (each with all its draws), marked done together.")] = 16,
    chunk: Chunk = CHUNK,
    device: Annotated[Optional[str], typer.Option(help="cpu, cuda or cuda:N (default: cuda when present).")] = None,
) -> None:
    """Extract ā of every chosen block and φ = E_z ā_mid(x + σz), per image and σ, into REP/."""
    from .checkpoint import load_denoiser
    from .data import open_source
    from .io import check_writable
    from .representation import RepConfig, model_sigmas, represent as run_extraction
    from .runtime import init_distributed, teardown_distributed

    check_chunk(chunk)
    check_writable(out, "representation folder", stage="represent")
    images = open_source(data)
    if max_images is not None:
        images = images.subset(max_images, seed)
    _, _, dev = init_distributed(device)
    try:
        denoiser = load_denoiser(model, device=dev, batch_size=chunk, channels=images.channels)
        sigmas, note = ((*sigma, *(more_sigma or [])), None) if sigma else model_sigmas(denoiser)
        names = denoiser.config.block_names if blocks == "all" else tuple(b.strip() for b in blocks.split(",") if b.strip())
        config = RepConfig(sigmas=tuple(sorted(sigmas)), draws=noise_draws, blocks=names, inputs=inputs, seed=seed,
                           image_size=image_size, maps=maps)
        say_notes([*images.notes, *([note] if note else [])])
        stats = run_extraction(denoiser, images, config, out, note=note, batch_images=batch_size, progress=True).extracted
    finally:
        teardown_distributed()
    console.print(f"{stats['images']} images × {len(config.sigmas)} σ, {stats['forward_passes']} noisy images through the network "
                  f"in {stats['seconds']:.1f} s ({stats['images_x_draws_per_s']:.0f}/s)")
    console.print(f"representation: {out / 'manifest.json'}, {out / 'means'}")


@app.command()
@stage
def analyse(
    rep: Annotated[Path, typer.Option(help="A REP directory written by `denoscope represent`.")],
    out: Annotated[Path, typer.Option(help="Directory for metrics.json and one .npz per analysis.")],
    images: Annotated[Optional[str], typer.Option(help="The REP's image source: enables neighbours, probes, factors and thumbnails.")] = None,
    sigma: Annotated[float, typer.Option(help="σ at which φ is analysed (nearest extracted level).")] = 0.5,
    k: Annotated[Optional[list[int]], typer.Option(help="K-means cluster counts, repeatable (default 10, fewer for a REP of fewer images).")] = None,
    max_images: Annotated[Optional[int], typer.Option(help="The --max-images the REP was extracted with.")] = None,
    seed: Annotated[int, typer.Option(help="Seed of K-means, t-SNE, splits and query choice (and of --max-images).")] = 0,
    live_floor: Annotated[Optional[float], typer.Option(help="A channel is live when its largest φ reaches this fraction of the "
                                                              "median over channels of each channel's largest φ; others are dead or "
                                                              "near-dead (default 0.05).")] = None,
) -> None:
    """Every analysis of §2 on a representation: numbers to metrics.json, arrays to .npz, findings said plainly."""
    from .analysis.findings import summary_line
    from .analysis.run import analyse as run
    from .data import open_source
    from .io import check_writable
    from .reporting.analysis_figures import draw_analysis
    from .representation import Representation

    check_writable(out, stage="analyse")
    r = Representation(rep)
    source = None
    if max_images is not None and images is None:
        raise ConfigError("--max-images chooses among the --images of the REP's source; give --images too")
    if images is not None:
        source = open_source(images)
        if max_images is not None:
            source = source.subset(max_images, seed)
    say_notes(r.level_notes(sigma))
    result = run(r, source, sigma=sigma, ks=tuple(k) if k else None, seed=seed, progress=True, live_floor=live_floor)
    result.save(out)
    figures = draw_analysis(out)
    for f in result.metrics["findings"].values():
        console.print(summary_line(f), markup=False, highlight=False)
    for line in result.metrics["warnings"]:
        console.print(labelled("warning:", line), highlight=False)
    say_notes(result.metrics["notes"])
    for line in result.metrics["not_computed"]:
        console.print(labelled("not computed:", line), highlight=False)
    console.print(f"outputs: {out / 'metrics.json'}, {len(list(out.glob('*.npz')))} .npz files, {len(figures)} figures in {out / 'figures'}")


Model = Annotated[Path, typer.Option(help="Run directory or .safetensors checkpoint.")]
Seed = Annotated[int, typer.Option(help="Seed of every draw (start, noise at each step, choices).")]
Device = Annotated[Optional[str], typer.Option(help="cpu, cuda or cuda:N (default: cuda when present).")]
Chunk = Annotated[int, typer.Option(help="Noisy images per network call: raise it to fill a GPU (memory grows with it); results agree to float rounding.")]
MeanFrom = Annotated[Optional[str], typer.Option(help="Start from the mean image of this source (default: the run's training data).")]
Eta = Annotated[float, typer.Option(help="First matching step, as a fraction of the Polyak step L/‖∇L‖².")]
Tolerance = Annotated[float, typer.Option(help="Matching stops when ‖φ − φ_target‖ ≤ tolerance·‖φ_target‖.")]
MaxIters = Annotated[int, typer.Option(help="Most matching steps per score step.")]
DIFFUSION_HELP = {
    "sigma_final": (float, "Stop an image when its σ̂ falls below this (σ_L)."),
    "h0": (float, "h₀ of the step schedule h_t = h₀t/(1 + h₀(t−1))."),
    "beta": (float, "β: 1 is deterministic, small values inject noise at every step."),
    "max_steps": (int, "Give up on an image after this many steps (said in metrics.json)."),
}
DIFFUSION_OPTIONS = {name: Annotated[kind, typer.Option(help=text)] for name, (kind, text) in DIFFUSION_HELP.items()}
SAMPLING_OPTIONS = {
    "model": (Model, inspect.Parameter.empty), "seed": (Seed, 0),
    **{name: (hint, default(DiffusionConfig, name)) for name, hint in DIFFUSION_OPTIONS.items()},
    "mean_from": (MeanFrom, None), "device": (Device, None), "chunk": (Chunk, CHUNK),
}


def check_chunk(chunk: int) -> int:
    if chunk < 1:
        raise ConfigError(f"--chunk must be at least 1 (noisy images per network call), got {chunk}")
    return chunk


@dataclasses.dataclass(frozen=True)
class Sampling:
    """The options the four sampling commands share, as one value: the model, the seed, the diffusion, the start."""

    model: Path
    seed: int
    config: DiffusionConfig
    mean_from: str | None
    device: str | None
    chunk: int

    def load(self, out: Path, stage: str):
        """Refuse a chunk below 1 and an output folder that cannot be written before anything is computed; then the denoiser."""
        from .checkpoint import load_denoiser
        from .io import check_writable
        from .runtime import resolve_device

        check_chunk(self.chunk)
        check_writable(out, stage=stage)
        return load_denoiser(self.model, device=resolve_device(self.device), batch_size=self.chunk)

    def start(self, denoiser, size: int | None = None):
        """The mean image to start from (said on the console)."""
        from .sampling.inputs import start_image

        mean, where = start_image(denoiser, self.mean_from, (size, size) if size else None)
        console.print(f"start: {where}")
        return mean


def sampling_command(fn: Callable) -> Callable:
    """A sampling command takes the shared options (SAMPLING_OPTIONS) beside its own, and receives them as one Sampling."""
    keyword = inspect.Parameter.KEYWORD_ONLY
    own = [p.replace(kind=keyword) for p in list(inspect.signature(fn, eval_str=True).parameters.values())[1:]]
    shared = [inspect.Parameter(name, keyword, annotation=hint, default=value) for name, (hint, value) in SAMPLING_OPTIONS.items()]

    @functools.wraps(fn)
    def command(**options):
        given = {name: options.pop(name) for name in SAMPLING_OPTIONS}
        config = DiffusionConfig(**{name: given.pop(name) for name in DIFFUSION_HELP})
        return fn(Sampling(config=config, **given), **options)

    command.__signature__ = inspect.Signature([shared[0], *own, *shared[1:]])
    return command


def save_and_draw(result, out: Path, draw: Callable) -> list[Path]:
    """Write a stage's result into `out` and draw its figures from the files: the figures' paths, then the files'."""
    written = result.save(out)
    return [*draw(out), *written]


def say_cost(metrics: dict) -> None:
    """The cost line of every command that samples."""
    console.print(f"{metrics['converged']} of {metrics['images']} converged; {metrics['evaluations_per_sample']:.0f} network "
                  f"evaluations and {metrics['seconds_per_sample']:.2f} s per sample")


def say_outputs(paths: list[Path]) -> None:
    """Where a command's figures and files are."""
    console.print("outputs: " + ", ".join(map(str, paths)))


@app.command()
@stage
@sampling_command
def sample(
    s: Sampling, out: Annotated[Path, typer.Option(help="Directory for samples.png, samples.npz, metrics.json.")],
    n: Annotated[int, typer.Option(help="Number of samples.")] = 16,
    size: Annotated[Optional[int], typer.Option(help="Sample side when no mean image is found.")] = None,
) -> None:
    """Unconditional samples by adaptive blind reverse diffusion (figure 19)."""
    from .reporting.sampling_figures import draw_sample
    from .sampling.stages import sample as run

    denoiser = s.load(out, "sample")
    result = run(denoiser, n, s.seed, s.config, mean=s.start(denoiser, size), progress=True)
    paths = save_and_draw(result, out, draw_sample)
    say_cost(result.metrics)
    say_outputs(paths)


@app.command()
@stage
@sampling_command
def inverse(
    s: Sampling, data: Annotated[str, typer.Option(help=DATA_HELP)],
    out: Annotated[Path, typer.Option(help="Directory for inverse.png, inverse.npz, metrics.json.")],
    task: Annotated[str, typer.Option(help="pixels, box, superres, deblur or cs.")] = "superres",
    n: Annotated[int, typer.Option(help="Images (a seeded random choice of the source).")] = 4,
) -> None:
    """Solve a linear inverse problem with the denoiser's prior; PSNR beside the pseudo-inverse's."""
    from .reporting.sampling_figures import draw_inverse
    from .sampling.stages import inverse as run

    denoiser = s.load(out, "inverse")
    result = run(denoiser, data, task, n, s.seed, s.config, mean=s.start(denoiser), progress=True)
    paths = save_and_draw(result, out, draw_inverse)
    m = result.metrics
    say_notes(m["notes"])
    console.print(f"{task}: PSNR {m['psnr_mean']:.2f} dB (pseudo-inverse {m['psnr_pseudo_inverse_mean']:.2f} dB)")
    say_cost(m)
    say_outputs(paths)


@app.command()
@stage
@sampling_command
def reconstruct(
    s: Sampling, out: Annotated[Path, typer.Option(help="Directory for reconstruct.png, panels.png, reconstruct.npz, metrics.json.")],
    data: Annotated[Optional[str], typer.Option(help=DATA_HELP + " With --index: the target images.")] = None,
    index: Annotated[Optional[list[int]], typer.Option(help="Target image(s) of --data, repeatable; all go through the sampler in one batch.")] = None,
    rep: Annotated[Optional[Path], typer.Option(help="A REP directory, with --cluster: a cluster centroid as target.")] = None,
    cluster: Annotated[Optional[int], typer.Option(help="Cluster id (K-means on the REP's φ at --phi-sigma).")] = None,
    k: Annotated[int, typer.Option(help="Number of clusters with --cluster.")] = 10,
    n: Annotated[int, typer.Option(help="Samples per target.")] = 8,
    noise_draws: Annotated[int, typer.Option(help="Noise draws of the target φ at each σ.")] = 8,
    phi_sigma: Annotated[float, typer.Option(help="σ at which clusters are formed.")] = 0.5,
    eta: Eta = default(GuidanceConfig, "eta"), tolerance: Tolerance = default(GuidanceConfig, "tolerance"),
    max_iters: MaxIters = default(GuidanceConfig, "max_iters"),
    phi_of: Annotated[str, typer.Option(help="Whose φ is matched: sample (ā of the noisy sample, Alg. 2) or estimate (E_z ā(D(y) + σz)).")] = default(GuidanceConfig, "phi_of"),
    match_draws: Annotated[int, typer.Option(help="Noise draws of the estimate's φ with --phi-of estimate.")] = default(GuidanceConfig, "draws"),
    baselines: Annotated[int, typer.Option(help="Unguided samples and random images of --data the targets are held against (0: none).")] = 8,
    probe_data: Annotated[Optional[str], typer.Option(help="Labelled training images for a class probe on φ (e.g. the training set).")] = None,
    probe_images: Annotated[int, typer.Option(help="Images of --probe-data the probe is trained on (a seeded choice).")] = 1000,
    assess_sigma: Annotated[float, typer.Option(help="σ at which φ is compared in the assessment (noise-averaged, --noise-draws draws).")] = 0.2,
) -> None:
    """Stochastic reconstruction from φ, self-guided by the model's own representation (Alg. 1, figures 7 and 20),
    held against unguided samples, random images and a class probe."""
    from .reporting.sampling_figures import draw_reconstruct
    from .sampling.inputs import open_given
    from .sampling.stages import reconstruct as run

    guidance = GuidanceConfig(eta=eta, tolerance=tolerance, max_iters=max_iters, phi_of=phi_of, draws=match_draws)
    denoiser = s.load(out, "reconstruct")
    data, probe_data = open_given(data, probe_data, channels=denoiser.config.channels)
    result = run(denoiser, images=data, index=index, rep=rep, cluster=cluster, k=k, phi_sigma=phi_sigma, n=n, seed=s.seed,
                 noise_draws=noise_draws, config=s.config, guidance=guidance, baselines=baselines, probe_data=probe_data,
                 probe_images=probe_images, assess_sigma=assess_sigma, mean=s.start(denoiser), progress=True)
    paths = save_and_draw(result, out, draw_reconstruct)
    metrics, m = result.metrics, result.metrics["matching"]
    console.print(f"φ-match error (median over samples) {metrics['phi_match_error_median']:.3f}; matching reached the tolerance in "
                  f"{m['reached_tolerance']:.0%} of {m['image_calls']} calls (error {m['error_before_median']:.3f} → {m['error_after_median']:.3f})")
    if m["iterations_total"] == 0:
        console.print(f"[yellow]matching never ran[/]: every sample's φ was already within {tolerance:g}·‖φ_target‖ of the target, so "
                      "these are unguided samples; on a model whose φ varies this little between images, lower --tolerance")
    for name, v in metrics.get("assessment", {}).get("measures", {}).items():
        med = v["median"]
        console.print(f"{name}: guided {med['guided']:.3f}, unguided {med['unguided']:.3f}, random {med['random']:.3f}; "
                      f"guided closer than both on {v['guided_closer_than_both']:.0%} of targets")
    say_cost(metrics)
    say_outputs(paths)


@app.command()
@stage
@sampling_command
def distance(
    s: Sampling, data: Annotated[str, typer.Option(help=DATA_HELP)],
    out: Annotated[Path, typer.Option(help="Directory for distance.png, distance.npz, metrics.json.")],
    pairs: Annotated[int, typer.Option(help="Random pairs of images.")] = 50,
    n: Annotated[int, typer.Option(help="Samples of each conditional density.")] = 4,
    levels: Annotated[int, typer.Option(help="σ levels of the integral (log-spaced over the model's range).")] = 8,
    phi_sigma: Annotated[float, typer.Option(help="σ at which ‖φ₁ − φ₂‖ is measured.")] = 0.5,
    noise_draws: Annotated[int, typer.Option(help="Noise draws of each target φ.")] = 8,
    eta: Eta = default(GuidanceConfig, "eta"), tolerance: Tolerance = default(GuidanceConfig, "tolerance"),
    max_iters: MaxIters = default(GuidanceConfig, "max_iters"),
) -> None:
    """d²(p(x|φ₁), p(x|φ₂)) of eq. 4 against ‖φ₁ − φ₂‖² for random pairs: A, B and B/A of eq. 3."""
    from .reporting.sampling_figures import draw_distance
    from .sampling.stages import distance as run

    guidance = GuidanceConfig(eta=eta, tolerance=tolerance, max_iters=max_iters)
    denoiser = s.load(out, "distance")
    result = run(denoiser, data, pairs, n, levels, phi_sigma, noise_draws, s.seed, s.config, guidance, mean=s.start(denoiser), progress=True)
    paths = save_and_draw(result, out, draw_distance)
    console.print(f"B/A = {result.metrics['B_over_A']:.2f} over {result.metrics['pairs']} pairs (paper: 2.9); correlation {result.metrics['pearson']:.2f}")
    say_outputs(paths)


@app.command()
@stage
def report(
    run: Annotated[Path, typer.Argument(help="The training run folder (with its weights).")],
    folders: Annotated[Optional[list[Path]], typer.Argument(help="The REP folder and stage output folders (denoise, analyse, sample, "
                                                                  "inverse, reconstruct, distance, jacobian, generalize), each recognised "
                                                                  "by its files; more run folders with theirs, shown side by side.")] = None,
    out: Annotated[Path, typer.Option(help="Folder for index.html, explorer.html and their files (new, empty, or an earlier report).")] = Path("report"),
    title: Annotated[Optional[str], typer.Option(help="Page title (default: from the run folder's name).")] = None,
    map_method: Annotated[str, typer.Option("--map", help="The explorer's 2-D map of φ: pca (any number of images) or tsne (at most 5 000).")] = "pca",
) -> None:
    """An HTML report of the given folders, figures with captions from their saved numbers, and the explorer; opens from disk."""
    from .reporting.build import build_report, check_run

    check_run(run)
    index = build_report([run, *(folders or [])], out, title, progress=True, map_method=map_method)
    console.print(f"report: {index}")
    for page in [out / "explorer.html", *sorted(out.glob("runs/*/explorer.html"), key=lambda p: int(p.parent.name))]:
        if page.exists():
            console.print(f"explorer: {page}")


@app.command()
@stage
def draw(
    folders: Annotated[list[Path], typer.Argument(help="Saved stage folders: denoise, analyse, sample, inverse, reconstruct, distance, "
                                                       "jacobian or generalize output.")],
    fmt: Annotated[str, typer.Option("--format", help="png, or pdf / svg: vector figures for a paper.")] = "png",
) -> None:
    """Draw the figures of saved stage folders again, from their files alone (nothing is recomputed), as PNG, PDF or SVG."""
    from .io import check_writable
    from .reporting.draw import check_format, drawer_of

    check_format(fmt)
    drawers = [drawer_of(folder) for folder in folders]
    for folder in folders:
        check_writable(folder, "stage folder")
    say_outputs([path for drawer, folder in zip(drawers, folders) for path in drawer(folder, fmt)])


@app.command()
@stage
def demo(
    out: Annotated[Path, typer.Option(help="Directory for the demo run and its outputs.")] = Path("demo-out"),
    seed: Annotated[int, typer.Option(help="Seed of the weights, data order and noise.")] = 0,
    quick: Annotated[bool, typer.Option("--quick", help="A much shorter run, for tests and CI.")] = False,
) -> None:
    """Train on the built-in synthetic set, then evaluate denoising: the whole pipeline on a laptop."""
    from .demo import run_demo

    run_demo(out, seed=seed, quick=quick, console=console)


@app.command()
@stage
def jacobian(
    model: Model, data: Annotated[str, typer.Option(help=DATA_HELP)],
    out: Annotated[Path, typer.Option(help="Directory for metrics.json, jacobian.npz and the figures.")],
    index: Annotated[int, typer.Option(help="The clean image of --data (side at most 64).")] = 0,
    sigma: Annotated[list[float], typer.Option(help="Noise std(s) (images in [0, 1]): --sigma 0.05 0.2 0.5.")] = [0.05, 0.2, 0.5],
    more_sigma: Annotated[Optional[list[float]], typer.Argument(hidden=True, help="Further σ after --sigma.")] = None,
    top: Annotated[int, typer.Option(help="Eigenvectors kept (and drawn) per σ.")] = 16,
    seed: Seed = 0,
    double: Annotated[bool, typer.Option("--double/--single", help="Run the network in float64 (exact homogeneity check) or float32.")] = False,
    device: Device = None,
) -> None:
    """The denoiser's Jacobian at a noisy image (the 2023 paper's adaptive basis): asymmetry, eigenvalues and eigenvectors,
    tr J against σ, D(y) = J·y, and the error against σ²·tr J."""
    import torch

    from .analysis.jacobian import MAX_SIDE, adaptive_basis, check_sigmas
    from .checkpoint import load_denoiser
    from .data import Transform, open_source, stack_images
    from .io import check_writable
    from .reporting.jacobian_figures import draw_jacobian
    from .runtime import resolve_device

    sigmas = [*sigma, *(more_sigma or [])]
    check_sigmas(sigmas)
    if top < 1:
        raise ConfigError(f"--top must be at least 1, got {top}")
    check_writable(out, stage="jacobian")
    denoiser = load_denoiser(model, device=resolve_device(device))
    images = open_source(data, channels=denoiser.config.channels)
    if not 0 <= index < len(images):
        raise ConfigError(f"--index {index} is outside {data}, which holds {len(images)} images")
    if max(images.size_of(index)) > MAX_SIDE:
        raise ConfigError(f"{images.where(index)} is {'×'.join(map(str, images.size_of(index)))}; the exact Jacobian takes images of side at most {MAX_SIDE}")
    dtype = torch.float64 if double else torch.float32
    denoiser.net.to(dtype)
    x = stack_images(images, [index], Transform())[0].to(denoiser.device, dtype)
    result = adaptive_basis(denoiser, x, sigmas, seed=seed, top=top, image=index)
    written = result.save(out) + draw_jacobian(out)
    for m in result.metrics["per_sigma"]:
        console.print(f"σ={m['sigma']:g}: tr J {m['trace']:.1f} of {result.metrics['dimension']}, asymmetry {m['asymmetry']:.3f}, "
                      f"‖D(y) − J·y‖/‖D(y)‖ {m['homogeneity']:.2e}, ‖D(y) − x‖²/(σ²·tr J) {m['error_over_sigma2_trace']:.2f}")
    console.print("outputs: " + ", ".join(map(str, written)))


@app.command()
@stage
def generalize(
    data: Annotated[str, typer.Option(help=DATA_HELP)],
    out: Annotated[Path, typer.Option(help="Folder for the runs (N-xxxxxx/a, b), metrics.json, the .npz files and figures; rerun to resume.")],
    sizes: Annotated[list[int], typer.Option(help="Training-set sizes N: --sizes 1 10 100 1000.")] = [1, 10, 100],
    more_sizes: Annotated[Optional[list[int]], typer.Argument(hidden=True, help="Further N after --sizes.")] = None,
    steps: Annotated[list[int], typer.Option(help="Training steps per model: one value for every N, or repeated once per N.")] = [1000],
    preset: Annotated[str, typer.Option(help=f"Model preset. {PRESET_LIST}.")] = "small",
    width: Annotated[Optional[int], typer.Option(help="Override the first block's width; the others keep the preset's ratios.")] = None,
    batch_size: Annotated[int, typer.Option(help="Training batch size.")] = 32,
    lr: Annotated[float, typer.Option(help="Adam learning rate.")] = 1e-3,
    lr_halve_steps: Annotated[Optional[int], typer.Option(help="Halve the learning rate every this many steps (default: constant).")] = None,
    sigma_max: Annotated[float, typer.Option(help="Largest training noise std (images in [0, 1]).")] = 1.0,
    flip: Annotated[bool, typer.Option("--flip/--no-flip", help="Random horizontal flips in training (off: a copy is one of the N images).")] = False,
    channels: Annotated[Optional[int], typer.Option(help="Convert the images to 1 (gray) or 3 channels.")] = None,
    image_size: Annotated[Optional[int], typer.Option(help="Resize images to SIZE×SIZE.")] = None,
    holdout: Annotated[int, typer.Option(help="Held-out images (in neither training set) for the test PSNR and the start mean.")] = 256,
    samples: Annotated[int, typer.Option(help="Samples per model and N (the same starts and noise for both models).")] = 8,
    copy_psnr: Annotated[float, typer.Option(help="A sample within this PSNR (dB) of its nearest own training image counts as a copy.")] = 25.0,
    seed: Seed = 0,
    sigma_final: DIFFUSION_OPTIONS["sigma_final"] = default(DiffusionConfig, "sigma_final"),
    h0: DIFFUSION_OPTIONS["h0"] = default(DiffusionConfig, "h0"), beta: DIFFUSION_OPTIONS["beta"] = default(DiffusionConfig, "beta"),
    max_steps: DIFFUSION_OPTIONS["max_steps"] = default(DiffusionConfig, "max_steps"),
    workers: Annotated[int, typer.Option(help="Models trained at once, one process each with its share of the cores (1: one after another).")] = 1,
    device: Device = None,
) -> None:
    """Memorisation → generalisation (the 2023 paper): per N, two models on disjoint subsets of N images, their samples
    from the same start and noise compared with each other and with their training sets, and train vs held-out PSNR."""
    from .generalization import GeneralizeConfig, generalize as run, sampling_notes
    from .io import check_writable
    from .reporting.generalize_figures import draw_generalize
    from .runtime import resolve_device

    config = GeneralizeConfig(
        sizes=(*sizes, *(more_sizes or [])), steps=tuple(steps), preset=preset, width=width, batch_size=batch_size, lr=lr,
        lr_halve_steps=lr_halve_steps, sigma_max=sigma_max, flip=flip, channels=channels, image_size=image_size, holdout=holdout,
        samples=samples, copy_psnr=copy_psnr, seed=seed,
        diffusion=DiffusionConfig(sigma_final=sigma_final, h0=h0, beta=beta, max_steps=max_steps))
    check_writable(out, stage="generalize")
    result = run(data, out, config, device=resolve_device(device), progress=True, workers=workers)
    written = result.save(out) + draw_generalize(out)
    for m in result.metrics["sizes"]:
        a, b = m["models"]["a"], m["models"]["b"]
        gap = {s: (a["denoising"][s]["gap"] + b["denoising"][s]["gap"]) / 2 for s in a["denoising"]}
        pair = "–" if m["pair"]["cosine_median"] is None else f"{m['pair']['cosine_median']:.3f} (PSNR {m['pair']['psnr_median']:.1f} dB)"
        console.print(f"N={m['n']}: converged {a['converged']}+{b['converged']} of {2 * config.samples}; a vs b cosine {pair}; "
                      f"copies {a['memorised']}+{b['memorised']}; train − test PSNR "
                      + ", ".join(f"σ={s} {g:+.2f} dB" for s, g in gap.items()))
    for line in sampling_notes(result.metrics):
        console.print(f"note: {line}")
    console.print("outputs: " + ", ".join(map(str, written)))
