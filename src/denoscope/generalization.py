"""Memorisation → generalisation (Kadkhodaie, Guth, Simoncelli & Mallat 2023, §2): for each training-set size N, two
denoisers trained by one recipe on two disjoint subsets of N images; then samples from both from the same start and
the same keyed noise, each sample's nearest training image in its own set and in the other's, and train vs held-out
denoising PSNR. Small N: each model copies its own images; large N: both give nearly the same new image."""

from __future__ import annotations

import dataclasses
import math
import multiprocessing
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from . import rng
from .checkpoint import load_denoiser, read_tensors
from .config import RunOptions, TrainConfig, model_config, scaled
from .data import Transform, open_source, stack_images
from .denoiser import Denoiser
from .errors import ConfigError
from .evaluate import heldout_psnr
from .io import STATE, ensure_dir, write_npz
from .metrics import psnr
from .results import StageResult
from .sampling.engine import DiffusionConfig, Samples, reverse_diffusion, start_from
from .training import train

MODELS = ("a", "b")


@dataclass(frozen=True)
class GeneralizeConfig:
    """One recipe for every model: `steps` per size (one value: the same for all), constant learning rate unless
    `lr_halve_steps`; each model trains with its own seed (weights, data order, training noise) from `rng`'s "models"
    stream of `seed`. A sample counts
    as a memorised copy when its PSNR to the nearest image of its own training set is at least `copy_psnr` dB."""

    sizes: tuple[int, ...]
    steps: tuple[int, ...]
    preset: str = "small"
    width: int | None = None
    batch_size: int = 32
    lr: float = 1e-3
    lr_halve_steps: int | None = None
    sigma_max: float = 1.0
    flip: bool = False
    channels: int | None = None
    image_size: int | None = None
    holdout: int = 256
    samples: int = 8
    eval_sigmas: tuple[float, ...] = (0.05, 0.1, 0.2, 0.4)
    copy_psnr: float = 25.0
    diffusion: DiffusionConfig = DiffusionConfig()
    seed: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "sizes", tuple(int(n) for n in self.sizes))
        steps = tuple(int(s) for s in self.steps)
        object.__setattr__(self, "steps", steps * len(self.sizes) if len(steps) == 1 else steps)
        if not self.sizes or min(self.sizes) < 1 or len(set(self.sizes)) != len(self.sizes):
            raise ConfigError(f"sizes must be distinct positive image counts, got {list(self.sizes)}")
        if len(self.steps) != len(self.sizes) or min(self.steps) < 1:
            raise ConfigError(f"steps must be one positive budget, or one per size ({len(self.sizes)}), got {list(steps)}")
        if not math.isfinite(self.copy_psnr):
            raise ConfigError(f"copy_psnr must be a finite PSNR in dB, got {self.copy_psnr}")
        for name in ("holdout", "samples", "batch_size"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be at least 1, got {getattr(self, name)}")
        model_config(self.preset)

    def model_seed(self, which: str) -> int:
        return int(rng.generator(self.seed, "models").integers(1 << 31, size=len(MODELS))[MODELS.index(which)])


def disjoint_subsets(n_images: int, sizes: tuple[int, ...], holdout: int, seed: int) -> tuple[np.ndarray, dict[int, tuple[np.ndarray, np.ndarray]]]:
    """Held-out images, and for each N two disjoint training sets of N (nested across N: set a of N ⊂ set a of N' > N),
    from one seeded permutation; no image is in two of them."""
    need = holdout + 2 * max(sizes)
    if need > n_images:
        raise ConfigError(f"the source holds {n_images} images; {holdout} held out and two disjoint sets of {max(sizes)} need {need}")
    order = rng.generator(seed, "disjoint-subsets").permutation(n_images)
    heldout, pool = np.sort(order[:holdout]), order[holdout:need]
    return heldout, {n: (np.sort(pool[0::2][:n]), np.sort(pool[1::2][:n])) for n in sizes}


def as_uint8(x: torch.Tensor) -> np.ndarray:
    """N×C×H×W in [0, 1] → N×H×W×C uint8, the .npz source layout (exact for images read from 8-bit files)."""
    return (x.clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()


def trained_steps(run: Path) -> int:
    """The step of a run's last checkpoint (0 when it has none)."""
    return int(read_tensors(run / STATE)[1]["step"]) if (run / STATE).exists() else 0


def train_model(images: Path, heldout: Path, run: Path, config: GeneralizeConfig, steps: int, seed: int,
                device: str | torch.device = "cpu", progress: bool = False) -> Path:
    """Train (or resume, or leave alone when already at `steps`) one model of the recipe on the images of `images`."""
    n = len(np.load(images)["images"])
    per_epoch = max(1, n // config.batch_size)
    halve = (config.lr_halve_steps or 2 * steps) / per_epoch
    tc = TrainConfig(data=str(images.resolve()), val_data=str(heldout.resolve()), holdout=config.holdout, flip=config.flip,
                     batch_size=config.batch_size, lr=config.lr, lr_halve_every=halve, sigma_max=config.sigma_max,
                     seed=seed, eval_sigmas=config.eval_sigmas)
    mc = model_config(config.preset)
    if config.width is not None:
        mc = scaled(mc, config.width)
    if trained_steps(run) < steps:
        every = max(1, steps // 4)
        options = RunOptions(steps=steps, log_every=every, eval_every=steps, checkpoint_every=every, device=str(device))
        train(mc, tc, options, run, resume=True, progress=progress)
    return run


def cosine(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Cosine similarity of every image of `a` with every image of `b` (rows × columns), images as vectors."""
    return torch.nn.functional.normalize(a.flatten(1).double(), dim=1) @ torch.nn.functional.normalize(b.flatten(1).double(), dim=1).T


def nearest(samples: torch.Tensor, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Each sample's nearest image of `images` in Euclidean distance: its index, cosine similarity and PSNR."""
    index = torch.cdist(samples.flatten(1).double(), images.flatten(1).double()).argmin(1)
    match = images[index]
    return index, cosine(samples, match).diagonal(), psnr(samples, match)


@torch.no_grad()
def draw_samples(d: Denoiser, mean: torch.Tensor, config: GeneralizeConfig) -> Samples:
    """Samples from mean + unit noise, start and step noise keyed by (seed, sample, step): the same for every model."""
    start = start_from(mean.to(d.device), config.samples, config.seed, config.diffusion.sigma_start)
    result = reverse_diffusion(d, start, config.seed, config.diffusion)
    result.samples = result.samples.clamp(0, 1).cpu()
    return result


def denoising_gap(d: Denoiser, train_images: torch.Tensor, heldout: torch.Tensor, config: GeneralizeConfig) -> dict:
    """Mean denoising PSNR on (up to `holdout`) training images drawn at random — a set's images are in index order,
    which in a class-folder source is class order — and on the held-out images, per σ, and the gap."""
    sample = torch.from_numpy(rng.choose(len(train_images), config.holdout, config.seed, "train-sample"))
    seen = heldout_psnr(d, train_images[sample].to(d.device), config.eval_sigmas, config.seed)["psnr"]
    unseen = heldout_psnr(d, heldout.to(d.device), config.eval_sigmas, config.seed)["psnr"]
    return {s: {"train": seen[s], "test": unseen[s], "gap": seen[s] - unseen[s]} for s in seen}


def median(values: torch.Tensor, keep: torch.Tensor) -> float | None:
    """The median of the kept values; None when no sample is kept."""
    return float(values[keep].median()) if bool(keep.any()) else None


def compare(models: dict[str, Denoiser], sets: dict[str, torch.Tensor], heldout: torch.Tensor, config: GeneralizeConfig) -> tuple[dict, dict]:
    """(a) the two models' samples against each other, (b) each against its own and the other's training set,
    (c) train vs held-out denoising: the numbers of one N, and its arrays. Only samples whose reverse diffusion
    converged count in the medians and the copies: a diverged one is not a sample of the model's density."""
    mean = heldout.mean(0)
    runs = {w: draw_samples(models[w], mean, config) for w in MODELS}
    samples = {w: runs[w].samples for w in MODELS}
    converged = {w: torch.from_numpy(runs[w].converged) for w in MODELS}
    both = converged["a"] & converged["b"]
    pair_cos = cosine(samples["a"], samples["b"]).diagonal()
    pair_psnr = psnr(samples["a"], samples["b"])
    own = {w: nearest(samples[w], sets[w]) for w in MODELS}
    other = {w: nearest(samples[w], sets[MODELS[1 - MODELS.index(w)]]) for w in MODELS}
    metrics = {
        "pair": {"cosine": pair_cos.tolist(), "psnr": pair_psnr.tolist(), "both_converged": int(both.sum()),
                 "cosine_median": median(pair_cos, both), "psnr_median": median(pair_psnr, both)},
        "models": {w: {
            "own": {"cosine": own[w][1].tolist(), "psnr": own[w][2].tolist(), "index": own[w][0].tolist()},
            "other": {"cosine": other[w][1].tolist(), "psnr": other[w][2].tolist(), "index": other[w][0].tolist()},
            "converged": int(converged[w].sum()),
            "memorised": int(((own[w][2] >= config.copy_psnr) & converged[w]).sum()),
            "sampling": {"status": runs[w].status, "steps": runs[w].steps.tolist()},
            "denoising": denoising_gap(models[w], sets[w], heldout, config),
        } for w in MODELS},
    }
    arrays = {**{w: samples[w].numpy() for w in MODELS}, **{f"nearest_{w}": sets[w][own[w][0]].numpy() for w in MODELS},
              "converged": np.stack([converged[w].numpy() for w in MODELS])}
    return metrics, arrays


def sampling_notes(metrics: dict) -> list[str]:
    """One line per model whose samples did not all converge: how many stopped at the step cap or diverged, and what helps."""
    notes, grow = [], metrics["config"]["diffusion"]["diverge"]
    for m in metrics["sizes"]:
        for w in MODELS:
            status = m["models"][w]["sampling"]["status"]
            capped, diverged = status.count("max_steps"), status.count("diverged")
            if capped:
                notes.append(f"N={m['n']} model {w}: {capped} of {len(status)} samples stopped at --max-steps with σ̂ above "
                             f"--sigma-final (σ̂ stalled; a larger --beta removes more noise per step) and are not counted")
            if diverged:
                notes.append(f"N={m['n']} model {w}: {diverged} of {len(status)} samples diverged (σ̂ grew past {grow:g}× "
                             f"its start) and are not counted")
    return notes


def summary(per_size: list[dict], config: GeneralizeConfig) -> dict[str, np.ndarray]:
    """The numbers of the figure, one row per N: pair similarity, similarity to the nearest training image, the gap."""
    sigmas = [f"{s:g}" for s in config.eval_sigmas]

    def per_model(part: str, key: str) -> np.ndarray:
        return np.array([[m["models"][w][part][key] for w in MODELS] for m in per_size])

    return {
        "sizes": np.array(config.sizes), "eval_sigmas": np.array(config.eval_sigmas),
        "pair_cosine": np.array([m["pair"]["cosine"] for m in per_size]),
        "pair_psnr": np.array([m["pair"]["psnr"] for m in per_size]),
        "own_cosine": per_model("own", "cosine"), "own_psnr": per_model("own", "psnr"),
        "other_cosine": per_model("other", "cosine"), "other_psnr": per_model("other", "psnr"),
        "memorised": np.array([[m["models"][w]["memorised"] for w in MODELS] for m in per_size]),
        "converged": np.array([[[s == "converged" for s in m["models"][w]["sampling"]["status"]] for w in MODELS] for m in per_size]),
        "train_psnr": np.array([[[m["models"][w]["denoising"][s]["train"] for s in sigmas] for w in MODELS] for m in per_size]),
        "test_psnr": np.array([[[m["models"][w]["denoising"][s]["test"] for s in sigmas] for w in MODELS] for m in per_size]),
    }


def size_folder(out: Path, n: int) -> Path:
    return out / f"N-{n:06d}"


def train_job(job: tuple) -> Path:
    return train_model(*job)


def train_all(jobs: list[tuple], heldout: Path, config: GeneralizeConfig, device: str | torch.device, workers: int,
              progress: bool) -> None:
    """Train every (images, run, steps, seed) of `jobs`: in this process, or `workers` at a time, one process each with
    its share of the cores (an error in one ends them all; a rerun resumes each from its last checkpoint)."""
    if workers == 1:
        for images, run, steps, seed in jobs:
            train_model(images, heldout, run, config, steps, seed, device, progress)
        return
    todo = [(images, heldout, run, config, steps, seed, str(device)) for images, run, steps, seed in jobs if trained_steps(run) < steps]
    if not todo:
        return
    threads = max(1, torch.get_num_threads() // workers)
    with multiprocessing.get_context("spawn").Pool(min(workers, len(todo)), torch.set_num_threads, (threads,)) as pool:
        for run in pool.imap_unordered(train_job, todo):
            if progress:
                print(f"trained {run}", flush=True)


def generalize(source: str, out: str | Path, config: GeneralizeConfig, device: str | torch.device = "cpu", progress: bool = False,
               workers: int = 1) -> StageResult:
    """The experiment: subsets and held-out images as .npz sources in `out`, two run folders per N (OUT/N-xxxxxx/a
    and b, each resumed where it stopped, `workers` trained at once), then the comparison of every pair of models."""
    if workers < 1:
        raise ConfigError(f"workers (models trained at once) must be at least 1, got {workers}")
    out = Path(out)
    images = open_source(source, channels=config.channels)
    transform = Transform(size=config.image_size) if config.image_size else Transform()
    held_idx, subsets = disjoint_subsets(len(images), config.sizes, config.holdout, config.seed)
    heldout = stack_images(images, held_idx, transform)
    ensure_dir(out)
    write_npz(out / "heldout.npz", images=as_uint8(heldout), index=held_idx)
    sets, jobs = {}, []
    for n, steps in zip(config.sizes, config.steps):
        folder = ensure_dir(size_folder(out, n))
        for w, idx in zip(MODELS, subsets[n]):
            sets[n, w] = stack_images(images, idx, transform)
            write_npz(folder / f"{w}.npz", images=as_uint8(sets[n, w]), index=idx)
            jobs.append((folder / f"{w}.npz", folder / w, steps, config.model_seed(w)))
    train_all(jobs, out / "heldout.npz", config, device, workers, progress)
    per_size, pairs = [], {}
    for n, steps in zip(config.sizes, config.steps):
        runs = {w: size_folder(out, n) / w for w in MODELS}
        models = {w: load_denoiser(run, device=device) for w, run in runs.items()}
        metrics, pairs[f"samples-{n:06d}"] = compare(models, {w: sets[n, w] for w in MODELS}, heldout, config)
        per_size.append({"n": n, "steps": steps, "runs": {w: str(run) for w, run in runs.items()}, **metrics})
    metrics = {"source": source, "config": {**dataclasses.asdict(config), "sizes": list(config.sizes), "steps": list(config.steps)},
               "copy_rule": f"a sample is a memorised copy when its PSNR to the nearest image of its own training set is ≥ {config.copy_psnr:g} dB",
               "sizes": per_size}
    return StageResult("generalize", metrics, {"generalize": summary(per_size, config), **pairs})
