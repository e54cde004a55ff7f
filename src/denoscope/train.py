"""Training loop: MSE denoising at random σ, exact resume, atomic checkpoints, DDP through torchrun.

Every draw is keyed by what it belongs to — (seed, epoch, image, occurrence) for noise, σ and augmentation —
so a run computes the same batches on 1 or N processes and its resume is bit-exact.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import json
import math
import os
import time
import tomllib
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader

from . import rng
from .checkpoint import config_text, load_training_state, save_tensors, training_state, weight_tensors
from .config import ModelConfig, RunOptions, TrainConfig, changed_fields, from_dict, to_dict
from .data import ImageSet, TrainingSet, Transform, open_source, split_indices, stack_images
from .data.memory import DeviceBatches, decode_all
from .denoiser import Denoiser
from .errors import ConfigError, DenoscopeError
from .evaluate import heldout_psnr
from .io import METRICS, RUN_CONFIG, STATE, WEIGHTS, check_writable, ensure_dir, remove_stale_temps, write_text
from .nn.unet import BlindUNet
from .runtime import autocast, init_distributed, teardown_distributed


class TrainingDiverged(DenoscopeError):
    """The loss or the weights became NaN or infinite."""


def sample_sigma(keys: torch.Tensor, sigma_max: float, dist_name: str) -> torch.Tensor:
    """σ per image: density ∝ 1/√σ on [0, σ_max] (σ = σ_max·u²) as in the paper, or uniform."""
    u = rng.uniform(keys, stream="sigma")
    return sigma_max * (u * u if dist_name == "inv-sqrt" else u)


def denoising_loss(net: torch.nn.Module, x: torch.Tensor, keys: torch.Tensor, config: TrainConfig) -> torch.Tensor:
    """‖D(x + σz) − x‖² averaged over pixels, σ and z keyed per image: the blind denoiser never sees σ."""
    sigma = sample_sigma(keys, config.sigma_max, config.sigma_dist)
    y = x + sigma.view(-1, 1, 1, 1) * rng.normal(keys, x.shape[1:])
    return F.mse_loss(net(y).float(), x)


def derived_seed(*parts: int) -> int:
    """One 63-bit seed from several integers, for numpy's per-image augmentation generators."""
    return int(rng.key(*parts)) & ((1 << 63) - 1)


def learning_rate(config: TrainConfig, epoch: int) -> float:
    """Adam's rate: `lr` halved every `lr_halve_every` epochs (the paper: 1e-3, halved every 100)."""
    return config.lr * 0.5 ** math.floor(epoch / config.lr_halve_every)


@dataclass(frozen=True)
class Schedule:
    """Which images each step sees: a seeded permutation per epoch, a fixed number of steps per epoch."""

    n_train: int
    batch_size: int
    seed: int

    @property
    def steps_per_epoch(self) -> int:
        return max(1, self.n_train // self.batch_size)

    @functools.lru_cache(maxsize=2)
    def order(self, epoch: int) -> torch.Tensor:
        """The epoch's permutation, drawn once and repeated to fill a batch when there are fewer images."""
        perm = torch.randperm(self.n_train, generator=torch.Generator().manual_seed(derived_seed(self.seed, epoch)))
        return perm.repeat(math.ceil(self.batch_size / self.n_train))

    @functools.lru_cache(maxsize=2)
    def device_order(self, epoch: int, device: torch.device) -> torch.Tensor:
        """The epoch's order copied to `device` once, so that steps gather their images there without a host copy."""
        return self.order(epoch).to(device)

    def batch(self, step: int, rank: int = 0, world: int = 1) -> list[tuple[int, int, int]]:
        """(epoch, image position, occurrence in the epoch) of this rank's share of the global batch at `step`."""
        epoch, k = divmod(step, self.steps_per_epoch)
        slots = range(k * self.batch_size, (k + 1) * self.batch_size)[rank::world]
        order = self.order(epoch)
        return [(epoch, int(order[s]), s // self.n_train) for s in slots]


class StepSampler(torch.utils.data.Sampler):
    def __init__(self, schedule: Schedule, start: int, stop: int, rank: int, world: int):
        self.schedule, self.start, self.stop, self.rank, self.world = schedule, start, stop, rank, world

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        for step in range(self.start, self.stop):
            items = self.schedule.batch(step, self.rank, self.world)
            yield [(p, derived_seed(self.schedule.seed, e, p, o)) for e, p, o in items]

    def __len__(self) -> int:
        return self.stop - self.start


def batch_items(schedule: Schedule, step: int, rank: int, world: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Positions of this rank's images at `step`, and their keys (seed, epoch, image, occurrence): `Schedule.batch`
    computed on the device, so no step waits for a host-to-device copy."""
    epoch, k = divmod(step, schedule.steps_per_epoch)
    slots = torch.arange(k * schedule.batch_size, (k + 1) * schedule.batch_size, device=device)[rank::world]
    positions = schedule.device_order(epoch, torch.device(device))[slots]
    return positions, rng.key(schedule.seed, epoch, positions, slots // schedule.n_train)


def in_memory(options: RunOptions, device: torch.device, transform: Transform) -> bool:
    """Decode once and batch on the device: asked for, or by default on CUDA unless patches are cut at random."""
    if options.in_memory is not None:
        return options.in_memory
    return device.type == "cuda" and not (transform.size is not None and transform.mode == "random-patch")


def step_batches(
    trainset: TrainingSet, schedule: Schedule, start: int, stop: int, rank: int, world: int,
    device: torch.device, options: RunOptions, progress: bool,
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """(images on the device, their keys) for every step from `start` to `stop`: decoded into memory once and
    gathered by index, or decoded per step by a DataLoader (with workers on CUDA by default)."""
    if in_memory(options, device, trainset.transform):
        cache = cache_path(options.cache_dir, trainset) if options.cache_dir else None
        batches = DeviceBatches(decode_all(trainset.images, trainset.indices, trainset.transform, cache, progress and rank == 0), device)
        for step in range(start, stop):
            positions, keys = batch_items(schedule, step, rank, world, device)
            yield batches.batch(positions, keys, trainset.transform.flip), keys
        return
    workers = options.workers if options.workers is not None else (min(8, os.cpu_count() or 1) if device.type == "cuda" else 0)
    loader = DataLoader(
        trainset,
        batch_sampler=StepSampler(schedule, start, stop, rank, world),
        num_workers=workers,
        pin_memory=device.type == "cuda",
        persistent_workers=workers > 0,
    )
    for step, x in enumerate(loader, start):
        yield x.to(device, non_blocking=True), batch_items(schedule, step, rank, world, device)[1]


def cache_path(folder: str, trainset: TrainingSet) -> Path:
    """A cache file name that changes with the source, the images chosen and their geometry."""
    t = trainset.transform
    digest = hashlib.sha256(f"{trainset.images.name}|{t.size}|{t.mode}|".encode() + trainset.indices.tobytes()).hexdigest()
    return ensure_dir(folder, "cache folder") / f"train-{digest[:16]}.npy"


def read_run_config(run: Path) -> tuple[ModelConfig, TrainConfig]:
    """The model and training configuration a run directory was created with."""
    path = run / RUN_CONFIG
    try:
        values = tomllib.loads(path.read_text())
        return from_dict(ModelConfig, values["model"]), from_dict(TrainConfig, values["train"])
    except (OSError, tomllib.TOMLDecodeError, KeyError, TypeError) as e:
        raise ConfigError(f"{path} is not a readable run configuration ({e}); expected [model] and [train] tables") from e


def training_config(model: str | Path) -> TrainConfig | None:
    """The training configuration of a model's run (None when the weights stand alone)."""
    run = Path(model) if Path(model).is_dir() else Path(model).parent
    try:
        return read_run_config(run)[1]
    except ConfigError:
        return None


def check_resume(run: Path, model_config: ModelConfig, config: TrainConfig) -> None:
    """A resumed run keeps what defines it: refuse any changed model or training field, by name."""
    old_model, old = read_run_config(run)
    changes = [(f, getattr(old_model, f), getattr(model_config, f)) for f in changed_fields(old_model, model_config)]
    changes += [(f, getattr(old, f), getattr(config, f)) for f in changed_fields(old, config)]
    if changes:
        detail = "; ".join(f"{f} was {a!r}, now {b!r}" for f, a, b in changes)
        raise ConfigError(f"{run} cannot be resumed with a different definition ({detail}); keep them or start a new run")


def write_config(run: Path, model_config: ModelConfig, config: TrainConfig) -> None:
    write_text(run / RUN_CONFIG, "[model]\n" + config_text(model_config) + "\n[train]\n" + config_text(config))


def read_metrics(path: Path) -> list[dict]:
    """The records of metrics.jsonl; a torn last line (a killed write) is dropped, a torn earlier line refused."""
    lines = path.read_text().splitlines() if path.exists() else []
    records = []
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            if i == len(lines) - 1:
                break
            raise ConfigError(f"{path} line {i + 1} is not JSON; expected one JSON record per line") from None
    return records


def truncate_metrics(path: Path, step: int) -> None:
    """After a resume, forget what was logged past the checkpoint, so the log matches an uninterrupted run."""
    if path.exists():
        write_text(path, "".join(json.dumps(r) + "\n" for r in read_metrics(path) if r.get("step", 0) <= step))


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
        if len(images) < 2:
            raise ConfigError(f"{config.data} holds {len(images)} image; a held-out check needs a second one, or give val_data")
        train_idx, held_idx = split_indices(len(images), min(config.holdout, len(images) // 2), config.seed)
        heldout = stack_images(images, held_idx, heldout_transform)
    return images, TrainingSet(images, transform, train_idx), heldout


def all_finite(model: torch.nn.Module) -> bool:
    """One host sync for the whole network, not one per tensor."""
    return bool(torch.stack([torch.isfinite(t).all() for t in [*model.parameters(), *model.buffers()] if t.is_floating_point()]).all())


def on_cuda_by_default(choice: bool | None, device: torch.device) -> bool:
    return choice if choice is not None else device.type == "cuda"


def adam(model: torch.nn.Module, lr: float, fused: bool) -> torch.optim.Adam:
    """Adam as the paper; fused (one kernel for every parameter) where asked."""
    return torch.optim.Adam(model.parameters(), lr=lr, fused=fused or None)


def use_fused(optimizer: torch.optim.Adam, fused: bool) -> None:
    """After a resume: this run's fused choice, not the checkpoint's (fused Adam counts its steps on the device)."""
    for group in optimizer.param_groups:
        group["fused"] = fused or None
        for p in group["params"]:
            state = optimizer.state.get(p, {})
            if "step" in state:
                state["step"] = state["step"].to(p.device, torch.float32) if fused else state["step"].cpu()


def compiled_loss(options: RunOptions, device: torch.device):
    """denoising_loss, compiled as one graph (keyed noise, network, MSE) where asked, by default on CUDA;
    `compile_mode` reduce-overhead also captures it in CUDA graphs."""
    if not on_cuda_by_default(options.compile, device):
        return denoising_loss
    return torch.compile(denoising_loss, mode=None if options.compile_mode == "default" else options.compile_mode)


class BackgroundWriter:
    """Checkpoint files written by one worker thread from CPU copies, so the steps go on while the disk works; one write
    at a time, and a failed write is raised at the next submit or at close."""

    def __init__(self):
        self.pool = ThreadPoolExecutor(max_workers=1)
        self.pending: Future | None = None

    def wait(self) -> None:
        pending, self.pending = self.pending, None
        if pending is not None:
            pending.result()

    def submit(self, write) -> None:
        self.wait()
        self.pending = self.pool.submit(write)

    def close(self) -> None:
        try:
            self.wait()
        finally:
            self.pool.shutdown()


def train(
    model_config: ModelConfig,
    config: TrainConfig,
    options: RunOptions,
    run: str | Path,
    resume: bool = False,
    progress: bool = True,
) -> Path:
    """Train a BlindUNet into `run` (its channel count follows the data); returns the path of its weights."""
    run = Path(run)
    resuming = resume and (run / STATE).exists()
    if (run / STATE).exists() and not resume:
        raise ConfigError(f"{run} already holds a training run; resume it or choose another output folder")
    check_writable(run, "run folder")
    rank, world, device = init_distributed(options.device)
    try:
        if config.batch_size % world:
            raise ConfigError(f"batch size {config.batch_size} must be divisible by the {world} processes")
        images, trainset, heldout = load_data(config)
        model_config = ModelConfig(**{**to_dict(model_config), "channels": images.channels})
        if resuming:
            check_resume(run, model_config, config)
        return _train(model_config, config, options, run, resuming, progress, rank, world, device, images, trainset, heldout)
    finally:
        teardown_distributed()


def _train(model_config, config, options, run, resuming, progress, rank, world, device, images, trainset, heldout) -> Path:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        model = BlindUNet(model_config).to(device).to(memory_format=torch.channels_last)
    ema = copy.deepcopy(model).eval().requires_grad_(False) if config.ema else None
    fused = on_cuda_by_default(options.fused_adam, device)
    optimizer = adam(model, config.lr, fused)
    step = load_training_state(run / STATE, model, optimizer, ema) if resuming else 0
    use_fused(optimizer, fused)
    schedule = Schedule(len(trainset), config.batch_size, config.seed)
    total = options.steps if options.steps is not None else options.epochs * schedule.steps_per_epoch
    if step >= total:
        raise ConfigError(f"{run} is already at step {step}; ask for more than {step} steps to continue it")
    if rank == 0:
        ensure_dir(run, "run folder")
        remove_stale_temps(run)
        write_config(run, model_config, config)
        truncate_metrics(run / METRICS, step)
    net = DistributedDataParallel(model) if world > 1 else model
    loss_of = compiled_loss(options, device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # fixed shapes: let cuDNN pick its fastest convolutions once
    heldout = heldout.to(device)
    writer = BackgroundWriter()
    log = open(run / METRICS, "a") if rank == 0 else None
    bar = Progress(
        TextColumn("[bold]train"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[status]}"),
        TimeRemainingColumn(), disable=not progress or rank != 0,
    )
    for note in images.notes if rank == 0 and progress else ():
        bar.console.print(f"[yellow]note:[/] {note}")
    last_good = step if resuming else 0
    loss_sum, loss_count = torch.zeros((), device=device), 0
    seen, tick = 0, time.perf_counter()
    first_step = step

    def diverged(what: str) -> TrainingDiverged:
        kept = f"the last good checkpoint (step {last_good}) is kept in {run / STATE}" if last_good else "no checkpoint was written"
        return TrainingDiverged(f"training {what} at step {step}; stopped, and {kept}. Try a smaller learning rate")

    try:
        with bar:
            task = bar.add_task("train", total=total, completed=step, status="")
            model.train()
            for x, keys in step_batches(trainset, schedule, step, total, rank, world, device, options, progress):
                epoch = step // schedule.steps_per_epoch
                for group in optimizer.param_groups:
                    group["lr"] = learning_rate(config, epoch)
                x = x.contiguous(memory_format=torch.channels_last)
                with autocast(device, options.amp):
                    try:
                        loss = loss_of(net, x, keys, config)
                    except Exception as e:  # noqa: BLE001 - compilation happens in the first call
                        if loss_of is denoising_loss or options.compile or step != first_step:
                            raise
                        loss_of = denoising_loss
                        note = f"torch.compile failed ({type(e).__name__}: {str(e).splitlines()[0][:200]}); training eagerly"
                        if log:
                            log.write(json.dumps({"step": step, "compile_error": note}) + "\n")
                        if progress and rank == 0:
                            bar.console.print(f"[yellow]note:[/] {note} (--compile shows the error, --no-compile skips the try)")
                        loss = loss_of(net, x, keys, config)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                if ema is not None:
                    update_ema(ema, model, ema_decay(config.ema, step))
                step += 1
                seen += x.shape[0] * world
                loss_sum += loss.detach()
                loss_count += 1
                if step == first_step + 1 and loss_of is not denoising_loss:
                    loss.detach().item()  # waits for the first step, compilation included
                    compile_seconds = time.perf_counter() - tick
                    if log:
                        log.write(json.dumps({"step": step, "compile_seconds": round(compile_seconds, 2)}) + "\n")
                    if progress and rank == 0:
                        bar.console.print(f"compiled the training step in {compile_seconds:.1f} s (its first run included)")
                    seen, tick = 0, time.perf_counter()  # the logged rate leaves compilation out
                log_now = step % options.log_every == 0 or step == total
                save_now = step % options.checkpoint_every == 0 or step == total
                if log_now or save_now:
                    value = reduce_mean(loss_sum, world) / loss_count
                    if not math.isfinite(value):
                        raise diverged(f"loss is {value}")
                    if save_now and not all_finite(ema or model):
                        raise diverged("weights hold NaN or infinite values")
                if rank == 0 and log_now:
                    rate = seen / (time.perf_counter() - tick)
                    record = {"step": step, "epoch": epoch, "loss": value, "lr": optimizer.param_groups[0]["lr"], "images_per_s": rate}
                    log.write(json.dumps(record) + "\n")
                    log.flush()
                    bar.update(task, status=f"loss {value:.2e}  PSNR {-10 * math.log10(value):.2f} dB  {rate:.0f} img/s")
                if log_now:
                    loss_sum, loss_count, seen, tick = torch.zeros((), device=device), 0, 0, time.perf_counter()
                if rank == 0 and (step % options.eval_every == 0 or step == total):
                    scores = heldout_psnr(Denoiser(copy.deepcopy(ema or model)), heldout, config.eval_sigmas, seed=config.seed)
                    log.write(json.dumps({"step": step, **scores}) + "\n")
                    log.flush()
                    if progress:
                        bar.console.print(f"step {step} held-out PSNR: " + ", ".join(
                            f"σ={s} {p:.2f} dB (noisy {scores['psnr_input'][s]:.2f})" for s, p in scores["psnr"].items()))
                if rank == 0 and save_now:
                    state, weights = training_state(model, optimizer, step, ema), weight_tensors(ema or model, step=step)
                    writer.submit(lambda state=state, weights=weights: (save_tensors(run / STATE, *state), save_tensors(run / WEIGHTS, *weights)))
                    last_good = step
                bar.update(task, completed=step)
    finally:
        try:
            writer.close()
        finally:
            if log:
                log.close()
    if world > 1:
        dist.barrier()
    return run / WEIGHTS


def ema_decay(decay: float, step: int) -> float:
    """The EMA's decay at optimiser step `step` (0-based): min(decay, (1 + step)/(10 + step)), so that the
    initial weights are forgotten within tens of steps instead of ~1/(1 − decay) (an early EMA is then usable)."""
    return min(decay, (1 + step) / (10 + step))


@torch.no_grad()
def update_ema(ema: BlindUNet, model: BlindUNet, decay: float) -> None:
    """ema ← decay·ema + (1 − decay)·model for parameters, as one foreach lerp (a few kernels, not one per tensor);
    buffers (running stds) copied."""
    torch._foreach_lerp_(list(ema.parameters()), list(model.parameters()), 1.0 - decay)
    buffers = [(e, b) for e, b in zip(ema.buffers(), model.buffers())]
    if buffers:
        torch._foreach_copy_(*map(list, zip(*buffers)))


def reduce_mean(value: torch.Tensor, world: int) -> float:
    if world > 1:
        value = value.clone()
        dist.all_reduce(value)
        value /= world
    return value.item()
