"""Training loop: MSE denoising at random σ, exact resume, atomic checkpoints, DDP through torchrun."""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import json
import math
import os
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
import tomli_w
import torch
import torch.distributed as dist
import torch.nn.functional as F
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader

from .checkpoint import STATE, WEIGHTS, load_training_state, save_training_state, save_weights, write_text
from .config import ModelConfig, TrainConfig, from_dict, to_dict
from .data import ImageSet, TrainingSet, Transform, open_source, split_indices, stack_images
from .evaluate import heldout_psnr
from .model import BlindUNet


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite."""


def sample_sigma(n: int, sigma_max: float, dist_name: str, generator: torch.Generator) -> torch.Tensor:
    """σ per image: density ∝ 1/√σ on [0, σ_max] (σ = σ_max·u²) as in the paper, or uniform."""
    u = torch.rand(n, generator=generator, device=generator.device)
    return sigma_max * (u * u if dist_name == "inv-sqrt" else u)


def denoising_loss(net: torch.nn.Module, x: torch.Tensor, config: TrainConfig, generator: torch.Generator) -> torch.Tensor:
    """‖D(x + σz) − x‖² averaged over pixels, with σ per image: the blind denoiser never sees σ."""
    sigma = sample_sigma(x.shape[0], config.sigma_max, config.sigma_dist, generator)
    y = x + sigma.view(-1, 1, 1, 1) * torch.randn(x.shape, generator=generator, device=x.device)
    return F.mse_loss(net(y).float(), x)


def derived_seed(*parts: int) -> int:
    """One 63-bit seed from several integers, so every draw is a function of (seed, step, …) alone."""
    h = 0
    for p in parts:
        h = (h * 1_000_003 + int(p) + 1) % (2**63 - 1)
    return h


def learning_rate(config: TrainConfig, epoch: int) -> float:
    return config.lr * 0.5 ** math.floor(epoch / config.lr_halve_every)


@dataclass(frozen=True)
class Schedule:
    """Which images each step sees: a fresh seeded permutation per epoch, a fixed number of steps per epoch."""

    n_train: int
    batch_size: int
    seed: int

    @property
    def steps_per_epoch(self) -> int:
        return max(1, self.n_train // self.batch_size)

    def batch(self, step: int, rank: int = 0, world: int = 1) -> list[tuple[int, int]]:
        """(position, item seed) pairs of this rank's share of the global batch at `step`."""
        epoch, k = divmod(step, self.steps_per_epoch)
        order = torch.randperm(self.n_train, generator=torch.Generator().manual_seed(derived_seed(self.seed, epoch)))
        positions = order.repeat(math.ceil(self.batch_size / self.n_train))[k * self.batch_size :][: self.batch_size]
        return [(int(p), derived_seed(self.seed, epoch, int(p))) for p in positions[rank::world]]


class StepSampler(torch.utils.data.Sampler):
    def __init__(self, schedule: Schedule, start: int, stop: int, rank: int, world: int):
        self.schedule, self.start, self.stop, self.rank, self.world = schedule, start, stop, rank, world

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        return (self.schedule.batch(s, self.rank, self.world) for s in range(self.start, self.stop))

    def __len__(self) -> int:
        return self.stop - self.start


def read_run_config(run: Path) -> tuple[ModelConfig, TrainConfig]:
    values = tomllib.loads((run / "config.toml").read_text())
    return from_dict(ModelConfig, values["model"]), from_dict(TrainConfig, values["train"])


def resumed_configs(run: Path, config: TrainConfig) -> tuple[ModelConfig, TrainConfig]:
    """On resume the run's own config.toml decides model and data; only the length comes from the caller."""
    model_config, old = read_run_config(run)
    return model_config, dataclasses.replace(old, steps=config.steps, epochs=config.epochs)


def write_config(run: Path, model_config: ModelConfig, config: TrainConfig) -> None:
    write_text(run / "config.toml", tomli_w.dumps({"model": to_dict(model_config), "train": to_dict(config)}))


def truncate_metrics(path: Path, step: int) -> None:
    """After a resume, forget what was logged past the checkpoint, so the log matches an uninterrupted run."""
    if path.exists():
        lines = [l for l in path.read_text().splitlines() if l and json.loads(l)["step"] <= step]
        write_text(path, "".join(l + "\n" for l in lines))


def init_distributed() -> tuple[int, int, torch.device]:
    """(rank, world size, device) from torchrun's environment; one process otherwise."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    if torch.cuda.is_available():
        local = int(os.environ.get("LOCAL_RANK", "0"))
        torch.cuda.set_device(local)
        device = torch.device("cuda", local)
    else:
        device = torch.device("cpu")
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return rank, world, device


def load_data(config: TrainConfig) -> tuple[ImageSet, TrainingSet, torch.Tensor]:
    """Training images, and a fixed held-out tensor: `val_data` if given, else a seeded split of `data`."""
    images = open_source(config.data, channels=config.channels)
    transform = Transform(size=config.image_size, mode=config.resize, flip=config.flip)
    heldout_transform = Transform(size=config.image_size, mode=config.resize)
    if config.val_data:
        val = open_source(config.val_data, channels=images.channels)
        chosen = np.random.default_rng(config.seed).permutation(len(val))[: config.holdout]
        heldout = stack_images(val, np.sort(chosen), heldout_transform)
        train_idx = None
    else:
        train_idx, held_idx = split_indices(len(images), min(config.holdout, len(images) // 2), config.seed)
        heldout = stack_images(images, held_idx, heldout_transform)
    return images, TrainingSet(images, transform, train_idx), heldout


def train(
    model_config: ModelConfig, config: TrainConfig, run: str | Path, resume: bool = False, progress: bool = True
) -> Path:
    """Train a BlindUNet into `run` (its channel count follows the data); returns the path of its weights."""
    run = Path(run)
    resuming = resume and (run / STATE).exists()
    if (run / STATE).exists() and not resume:
        raise FileExistsError(f"{run} already holds a training run; pass --resume to continue it or choose another --out")
    if resuming:
        model_config, config = resumed_configs(run, config)
    rank, world, device = init_distributed()
    if config.batch_size % world:
        raise ValueError(f"--batch-size {config.batch_size} must be divisible by the {world} processes")
    images, trainset, heldout = load_data(config)
    model_config = dataclasses.replace(model_config, channels=images.channels)

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        model = BlindUNet(model_config).to(device)
    ema = copy.deepcopy(model).eval().requires_grad_(False) if config.ema else None
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    step = 0
    if resuming:
        step = load_training_state(run / STATE, model, optimizer, ema)
    schedule = Schedule(len(trainset), config.batch_size, config.seed)
    total = config.steps if config.steps is not None else config.epochs * schedule.steps_per_epoch
    if rank == 0:
        run.mkdir(parents=True, exist_ok=True)
        write_config(run, model_config, config)
        truncate_metrics(run / "metrics.jsonl", step)
    net = DistributedDataParallel(model) if world > 1 else model
    loader = DataLoader(
        trainset,
        batch_sampler=StepSampler(schedule, step, total, rank, world),
        num_workers=config.num_workers,
        pin_memory=device.type == "cuda",
        persistent_workers=config.num_workers > 0,
    )
    autocast = torch.autocast("cuda", dtype=torch.bfloat16) if config.amp and device.type == "cuda" else contextlib.nullcontext()
    log = open(run / "metrics.jsonl", "a") if rank == 0 else None
    bar = Progress(
        TextColumn("[bold]train"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[status]}"),
        TimeRemainingColumn(), disable=not progress or rank != 0,
    )
    for note in images.notes if rank == 0 and progress else ():
        bar.console.print(f"[yellow]note:[/] {note}")
    last_good = step
    losses: list[float] = []
    seen, tick = 0, time.perf_counter()
    with bar:
        task = bar.add_task("train", total=total, completed=step, status="")
        model.train()
        for x in loader:
            epoch = step // schedule.steps_per_epoch
            for group in optimizer.param_groups:
                group["lr"] = learning_rate(config, epoch)
            x = x.to(device, non_blocking=True)
            with autocast:
                loss = denoising_loss(net, x, config, torch.Generator(device).manual_seed(derived_seed(config.seed, step, rank)))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            if ema is not None:
                update_ema(ema, model, config.ema)
            step += 1
            seen += x.shape[0] * world
            value = reduce_mean(loss.detach(), world)
            if not math.isfinite(value):
                raise TrainingDiverged(
                    f"training loss is {value} at step {step}; stopped. "
                    + (f"The last good checkpoint (step {last_good}) is kept in {run / STATE}." if last_good else "No checkpoint was written yet.")
                )
            losses.append(value)
            if rank == 0:
                if step % config.log_every == 0 or step == total:
                    rate = seen / (time.perf_counter() - tick)
                    record = {"step": step, "epoch": epoch, "loss": sum(losses) / len(losses), "lr": optimizer.param_groups[0]["lr"], "images_per_s": rate}
                    log.write(json.dumps(record) + "\n")
                    log.flush()
                    bar.update(task, status=f"loss {record['loss']:.2e}  PSNR {-10 * math.log10(record['loss']):.2f} dB  {rate:.0f} img/s")
                    losses, seen, tick = [], 0, time.perf_counter()
                if step % config.eval_every == 0 or step == total:
                    scores = heldout_psnr(ema or model, heldout.to(device), config.eval_sigmas, seed=config.seed)
                    model.train()
                    log.write(json.dumps({"step": step, **scores}) + "\n")
                    log.flush()
                    if progress:
                        bar.console.print(f"step {step} held-out PSNR: " + ", ".join(
                            f"σ={s} {p:.2f} dB (noisy {scores['psnr_input'][s]:.2f})" for s, p in scores["psnr"].items()))
                if step % config.checkpoint_every == 0 or step == total:
                    save_training_state(run / STATE, model, optimizer, step, ema)
                    save_weights(run / WEIGHTS, ema or model, step=step)
                    last_good = step
                bar.update(task, completed=step)
            else:
                losses.clear()
    if log:
        log.close()
    if world > 1:
        dist.barrier()
    return run / WEIGHTS


@torch.no_grad()
def update_ema(ema: BlindUNet, model: BlindUNet, decay: float) -> None:
    for e, p in zip(ema.parameters(), model.parameters()):
        e.lerp_(p, 1.0 - decay)
    for e, b in zip(ema.buffers(), model.buffers()):
        e.copy_(b)


def reduce_mean(value: torch.Tensor, world: int) -> float:
    if world > 1:
        value = value.clone()
        dist.all_reduce(value)
        value /= world
    return value.item()
