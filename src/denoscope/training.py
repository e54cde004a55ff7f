"""Training loop: MSE denoising at random σ, exact resume, atomic checkpoints, DDP through torchrun.

Every draw is keyed by what it belongs to — (seed, epoch, image, occurrence) for noise, σ and augmentation —
so a run computes the same batches on 1 or N processes and its resume is bit-exact.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
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

import torch
import torch.distributed as dist
import torch.nn.functional as F
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.text import Text
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader

from . import rng
from .checkpoint import config_text, load_training_state, save_tensors, training_state, weight_tensors
from .config import ModelConfig, RunOptions, TrainConfig, changed_fields, from_dict, model_config, scaled
from .data import ImageSet, TrainingSet, Transform, open_source, split_indices, stack_images
from .data.memory import DeviceBatches, decode_all
from .denoiser import Denoiser, apply_head
from .errors import ConfigError, DataError, DenoscopeError
from .evaluate import heldout_psnr
from .io import MARKER, METRICS, RUN_CONFIG, STATE, WEIGHTS, check_writable, ensure_dir, folder_lock, remove_stale_temps, write_marker, write_text
from .nn.unet import BlindUNet
from .progress import labelled
from .runtime import autocast, init_distributed, teardown_distributed


class TrainingDiverged(DenoscopeError):
    """The loss or the weights became NaN or infinite."""


def sample_sigma(keys: torch.Tensor, sigma_max: float, dist_name: str) -> torch.Tensor:
    """σ per image: density ∝ 1/√σ on [0, σ_max] (σ = σ_max·u²) as in the paper, or uniform."""
    u = rng.uniform(keys, stream="sigma")
    return sigma_max * (u * u if dist_name == "inv-sqrt" else u)


def denoising_loss(net: torch.nn.Module, x: torch.Tensor, keys: torch.Tensor, config: TrainConfig, head: str) -> torch.Tensor:
    """‖D(x + σz) − x‖² averaged over pixels, with D(y) = apply_head(head, y, net(y)) as every stage's Denoiser computes
    it; σ and z keyed per image: the blind denoiser never sees σ."""
    sigma = sample_sigma(keys, config.sigma_max, config.sigma_dist)
    y = x + sigma.view(-1, 1, 1, 1) * rng.normal(keys, x.shape[1:])
    return F.mse_loss(apply_head(head, y, net(y)).float(), x)


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


def run_configs(
    out: str | Path, resume: bool = False, preset: str | None = None, model_overrides: dict | None = None,
    train_overrides: dict | None = None, width: int | None = None,
) -> tuple[ModelConfig, TrainConfig]:
    """The (model, training) configuration a run in `out` trains with: a preset (default small) and the overrides for
    a new run; a resumed run's own, with the overrides (a preset given then replaces its model but keeps its channels).
    None values are ignored; `width` scales every width last."""
    model_given = {k: v for k, v in (model_overrides or {}).items() if v is not None}
    train_given = {k: v for k, v in (train_overrides or {}).items() if v is not None}
    out = Path(out)
    if resume and (out / STATE).exists():
        old_model, old = read_run_config(out)
        if preset:
            mc = dataclasses.replace(model_config(preset, **model_given), channels=old_model.channels)
        else:
            mc = dataclasses.replace(old_model, **model_given)
        tc = dataclasses.replace(old, **train_given)
    else:
        if resume and "data" not in train_given:
            raise ConfigError(f"{out} holds no run to resume (no {STATE}); --data is required to start a new run there")
        if "data" not in train_given:
            raise ConfigError("--data is required to start a new run (a folder, .tar, .npz/.npy or synthetic:NAME)")
        mc, tc = model_config(preset or "small", **model_given), TrainConfig(**train_given)
    return (mc if width is None else scaled(mc, width)), tc


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
    """Training images, and a fixed held-out tensor: `val_data` if given, else a split of `data` (both chosen by the
    "holdout" stream of the run's seed)."""
    images = open_source(config.data, channels=config.channels)
    transform = Transform(size=config.image_size, mode=config.resize, flip=config.flip)
    heldout_transform = Transform(size=config.image_size, mode=config.resize)
    if config.val_data:
        val = open_source(config.val_data, channels=images.channels)
        heldout = stack_images(val, rng.choose(len(val), config.holdout, config.seed, "holdout"), heldout_transform)
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
    check_writable(run, "run folder", stage="train")
    rank, world, device = init_distributed(options.device)
    try:
        with folder_lock(run, "run folder") if rank == 0 else contextlib.nullcontext():
            if config.batch_size % world:
                raise ConfigError(f"batch size {config.batch_size} must be divisible by the {world} processes")
            images, trainset, heldout = load_data(config)
            model_config = dataclasses.replace(model_config, channels=images.channels)
            if resuming:
                check_resume(run, model_config, config)
            schedule = Schedule(len(trainset), config.batch_size, config.seed)
            trainer = Trainer(model_config, config, options, run, schedule.steps_per_epoch, device=device, rank=rank, world=world,
                              resume=resuming, progress=progress)
            check_fits(trainer.model, trainset, heldout)
            heldout = heldout.to(device)
            notes = [*images.notes, *holdout_notes(config, len(heldout)), *batch_notes(config.batch_size, len(trainset))]
            with forgotten_if_refused(run, resuming):
                with trainer:
                    for note in notes:
                        trainer.say(labelled("note:", note))
                    for x, keys in step_batches(trainset, schedule, trainer.step_count, trainer.total, rank, world, device, options, progress):
                        trainer.step(x, keys)
                        trainer.after_step(heldout)
            if world > 1:
                dist.barrier()
            return run / WEIGHTS
    finally:
        teardown_distributed()


def check_fits(model: BlindUNet, trainset: TrainingSet, heldout: torch.Tensor) -> None:
    """Refuse images the network cannot take (a side not divisible by 2^blocks) before the run folder is written."""
    side = trainset.transform.size
    h, w = (side, side) if side else trainset.images.size_of(int(trainset.indices[0]))
    model.check_input(torch.empty(1, model.config.channels, h, w, device="meta"))
    model.check_input(heldout)


@contextlib.contextmanager
def forgotten_if_refused(run: Path, resuming: bool) -> Iterator[None]:
    """A new run refused (bad data, a bad option) before its first checkpoint leaves no files behind: nothing could resume it."""
    try:
        yield
    except (ConfigError, DataError):
        if not resuming and not (run / STATE).exists():
            for name in (RUN_CONFIG, METRICS, MARKER):
                (run / name).unlink(missing_ok=True)
        raise


def holdout_notes(config: TrainConfig, used: int) -> list[str]:
    """Say it when fewer images are held out than asked: at most half of --data, or all of --val-data."""
    if used >= config.holdout:
        return []
    limit = f"all of {config.val_data}" if config.val_data else f"at most half of the images of {config.data}"
    return [f"holdout {config.holdout} asked, {used} images held out: {limit}"]


def batch_notes(batch_size: int, n_train: int) -> list[str]:
    """Say it when a batch is larger than the training set: each batch then repeats every image."""
    if batch_size <= n_train:
        return []
    return [f"batch size {batch_size} is larger than the {n_train} training images: every batch repeats each image "
            f"about {batch_size / n_train:.0f} times and an epoch is one step"]


def new_model(model_config: ModelConfig, seed: int, device: torch.device) -> BlindUNet:
    """A fresh BlindUNet whose initial weights are drawn by torch's generator seeded with `seed`: the documented generator
    of the weights (inside fork_rng, so the caller's torch state is left as it was)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return BlindUNet(model_config).to(device).to(memory_format=torch.channels_last)


class Trainer:
    """One run's state — model, EMA, Adam, step — and what a run does with it: `step(x, keys)`, then `after_step`
    logs, checks for divergence, evaluates and saves when due; `close` waits for the last checkpoint.

    Mixed precision lives in `step` (bf16 autocast), DDP in `net` (gradients averaged in backward) and `check` (the loss
    averaged over processes), the EMA in `step`, the compile fallback in `loss`, checkpoints in `save`. Used as a context
    manager: entering prepares the run folder and the log, leaving closes them.
    """

    def __init__(self, model_config: ModelConfig, config: TrainConfig, options: RunOptions, run: str | Path,
                 steps_per_epoch: int, *, device: torch.device, rank: int = 0, world: int = 1, resume: bool = False,
                 progress: bool = False):
        self.config, self.options, self.run = config, options, Path(run)
        self.steps_per_epoch, self.device, self.rank, self.world, self.progress = steps_per_epoch, device, rank, world, progress
        self.total = options.steps if options.steps is not None else options.epochs * steps_per_epoch
        self.model = new_model(model_config, config.seed, device)
        self.ema = copy.deepcopy(self.model).eval().requires_grad_(False) if config.ema else None
        fused = on_cuda_by_default(options.fused_adam, device)
        self.optimizer = adam(self.model, config.lr, fused)
        self.step_count = load_training_state(self.run / STATE, self.model, self.optimizer, self.ema) if resume else 0
        use_fused(self.optimizer, fused)
        self.net = DistributedDataParallel(self.model) if world > 1 else self.model
        self.loss_of = compiled_loss(options, device)
        self.first_step = self.last_good = self.step_count
        self.epoch = self.step_count // steps_per_epoch
        self.loss_sum, self.loss_count, self.seen, self.tick = torch.zeros((), device=device), 0, 0, time.perf_counter()
        self.writer = BackgroundWriter()
        self.log_file = None
        self.bar = Progress(
            TextColumn("[bold]train"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[status]}"),
            TimeRemainingColumn(), disable=not progress or rank != 0,
        )

    def __enter__(self) -> "Trainer":
        """Refuse a run already at its last step, then (on rank 0) the run folder, its config and a log cut back to this step."""
        if self.step_count >= self.total:
            raise ConfigError(f"{self.run} is already at step {self.step_count}; ask for more than {self.step_count} steps to continue it")
        if self.rank == 0:
            ensure_dir(self.run, "run folder")
            remove_stale_temps(self.run)
            write_marker(self.run, "train")
            write_config(self.run, self.model.config, self.config)
            truncate_metrics(self.run / METRICS, self.step_count)
            self.log_file = open(self.run / METRICS, "a")
        if self.device.type == "cuda":
            torch.backends.cudnn.benchmark = True  # fixed shapes: let cuDNN pick its fastest convolutions once
        self.bar.start()
        self.task = self.bar.add_task("train", total=self.total, completed=self.step_count, status="")
        self.model.train()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def say(self, text: str | Text) -> None:
        """A line on the console above the bar (rank 0, with progress on)."""
        if self.progress and self.rank == 0:
            self.bar.console.print(text)

    def record(self, entry: dict) -> None:
        """One JSON line of metrics.jsonl (rank 0 only holds the file)."""
        if self.log_file:
            self.log_file.write(json.dumps(entry) + "\n")
            self.log_file.flush()

    def step(self, x: torch.Tensor, keys: torch.Tensor) -> torch.Tensor:
        """One Adam step on images x with their noise keys: the epoch's learning rate, the loss under autocast, the EMA."""
        self.epoch = self.step_count // self.steps_per_epoch
        for group in self.optimizer.param_groups:
            group["lr"] = learning_rate(self.config, self.epoch)
        x = x.contiguous(memory_format=torch.channels_last)
        with autocast(self.device, self.options.amp):
            loss = self.loss(x, keys)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        if self.ema is not None:
            update_ema(self.ema, self.model, ema_decay(self.config.ema, self.step_count))
        self.step_count += 1
        self.seen += x.shape[0] * self.world
        self.loss_sum += loss.detach()
        self.loss_count += 1
        if self.step_count == self.first_step + 1 and self.loss_of is not denoising_loss:
            self.note_compile_time(loss)
        return loss

    def loss(self, x: torch.Tensor, keys: torch.Tensor) -> torch.Tensor:
        """The denoising loss, compiled where asked; a default compile that fails (in the first call) falls back to
        eager once and says so."""
        head = self.model.config.head
        try:
            return self.loss_of(self.net, x, keys, self.config, head)
        except Exception as e:  # noqa: BLE001 - compilation happens in the first call
            if self.loss_of is denoising_loss or self.options.compile or self.step_count != self.first_step:
                raise
            self.loss_of = denoising_loss
            note = f"torch.compile failed ({type(e).__name__}: {str(e).splitlines()[0][:200]}); training eagerly"
            self.record({"step": self.step_count, "compile_error": note})
            self.say(labelled("note:", f"{note} (--compile shows the error, --no-compile skips the try)"))
            return self.loss_of(self.net, x, keys, self.config, head)

    def note_compile_time(self, loss: torch.Tensor) -> None:
        """Wait for the first compiled step, log its time, and leave it out of the logged rate."""
        loss.detach().item()
        seconds = time.perf_counter() - self.tick
        self.record({"step": self.step_count, "compile_seconds": round(seconds, 2)})
        self.say(f"compiled the training step in {seconds:.1f} s (its first run included)")
        self.seen, self.tick = 0, time.perf_counter()

    def after_step(self, heldout: torch.Tensor) -> None:
        """Log, check, evaluate on `heldout` and save when this step is due (every so many steps, and at the last)."""
        step, o = self.step_count, self.options
        last = step == self.total
        log_now = step % o.log_every == 0 or last
        save_now = step % o.checkpoint_every == 0 or last
        if log_now or save_now:
            value = self.check(weights=save_now)
            if log_now:
                self.log(value)
        if step % o.eval_every == 0 or last:
            self.evaluate(heldout)
        if save_now:
            self.save()
        self.bar.update(self.task, completed=step)

    def diverged(self, what: str) -> TrainingDiverged:
        kept = f"the last good checkpoint (step {self.last_good}) is kept in {self.run / STATE}" if self.last_good else "no checkpoint was written"
        return TrainingDiverged(f"training {what} at step {self.step_count}; stopped, and {kept}. Try a smaller learning rate")

    def check(self, weights: bool) -> float:
        """The mean loss since the last log line over every process; stop on a non-finite one, or (before a save) on
        non-finite weights."""
        value = reduce_mean(self.loss_sum, self.world) / self.loss_count
        if not math.isfinite(value):
            raise self.diverged(f"loss is {value}")
        if weights and not all_finite(self.ema or self.model):
            raise self.diverged("weights hold NaN or infinite values")
        return value

    def log(self, value: float) -> None:
        """A loss line in metrics.jsonl and on the bar; the mean and the rate start again."""
        if self.rank == 0:
            rate = self.seen / (time.perf_counter() - self.tick)
            lr = self.optimizer.param_groups[0]["lr"]
            self.record({"step": self.step_count, "epoch": self.epoch, "loss": value, "lr": lr, "images_per_s": rate})
            self.bar.update(self.task, status=f"loss {value:.2e}  PSNR {-10 * math.log10(value):.2f} dB  {rate:.0f} img/s")
        self.loss_sum, self.loss_count, self.seen, self.tick = torch.zeros((), device=self.device), 0, 0, time.perf_counter()

    def evaluate(self, heldout: torch.Tensor) -> dict | None:
        """Held-out PSNR of the EMA (else the model) through the Denoiser every stage uses (rank 0); logged and said."""
        if self.rank != 0:
            return None
        denoiser = Denoiser(copy.deepcopy(self.ema or self.model))
        scores = heldout_psnr(denoiser, heldout, self.config.eval_sigmas, seed=self.config.seed)
        self.record({"step": self.step_count, **scores})
        self.say(f"step {self.step_count} held-out PSNR: " + ", ".join(
            f"σ={s} {p:.2f} dB (noisy {scores['psnr_input'][s]:.2f})" for s, p in scores["psnr"].items()))
        return scores

    def save(self) -> None:
        """checkpoint.safetensors (resume state) and model.safetensors (the EMA, else the weights), written in the
        background from CPU copies (rank 0)."""
        if self.rank != 0:
            return
        state, weights = training_state(self.model, self.optimizer, self.step_count, self.ema), weight_tensors(self.ema or self.model, step=self.step_count)
        self.writer.submit(lambda: (save_tensors(self.run / STATE, *state), save_tensors(self.run / WEIGHTS, *weights)))
        self.last_good = self.step_count

    def close(self) -> None:
        """Wait for the last checkpoint (raising its failure), then close the log and the bar."""
        try:
            self.writer.close()
        finally:
            self.bar.stop()
            if self.log_file:
                self.log_file.close()


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
