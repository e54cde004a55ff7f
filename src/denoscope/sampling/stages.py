"""The three uses of the engine, and the distance, as stages: compute, then write OUT/metrics.json, arrays and a figure."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from ..data import ImageSet, Transform, stack_images
from ..denoiser import Denoiser
from ..evaluate import hwc
from ..io import OUT_METRICS, write_json, write_npz
from ..metrics import psnr
from ..progress import sigma_descent, stage_bar
from ..denoiser import noise_averaged_means
from .assess import Images, assess, fit_probe, relative_phi_distance
from .distance import density_distance, euclidean_embedding, sigma_grid
from .engine import DiffusionConfig, Samples, reverse_diffusion, start_from
from .guidance import GuidanceConfig, PhiMatching, PhiTarget, target_from_images
from .operators import make_operator


def start_mean(source: str | None, channels: int, size: tuple[int, int] | None) -> tuple[torch.Tensor, str]:
    """The mean image reverse diffusion starts from: of `source` (e.g. the run's training data), else flat gray."""
    from ..data import open_source
    from ..data.dataset import mean_image
    from ..errors import DataError

    if source is not None:
        try:
            images = open_source(source, channels=channels)
            transform = Transform(size=size[0], mode="center-crop") if size else Transform()
            return mean_image(images, transform), f"the mean of up to 1000 images of {source}"
        except DataError as e:
            reason = str(e)
    else:
        reason = "no training data recorded"
    if size is None:
        raise DataError(f"cannot find a mean image to start from ({reason}); give the image size")
    return torch.full((channels, *size), 0.5), f"flat gray ({reason})"


def cost(result: Samples, seconds: float) -> dict:
    n = len(result.steps)
    return {"images": n, "converged": int(result.converged.sum()), "status": result.status, "steps": result.steps.tolist(),
            "network_evaluations": result.evaluations, "evaluations_per_sample": result.evaluations / n,
            "seconds": seconds, "seconds_per_sample": seconds / n}


def pictures(x: torch.Tensor) -> np.ndarray:
    return np.stack([hwc(t) for t in x.clamp(0, 1)])


def descend(name: str, config: DiffusionConfig, progress: bool, run):
    """`run(callback)` under a bar of the slowest image's way from σ_start down to σ_final."""
    with stage_bar(name, 100, progress) as update:
        return run(sigma_descent(update, config.sigma_start, config.sigma_final))


def sample(denoiser: Denoiser, mean: torch.Tensor, n: int, seed: int, config: DiffusionConfig, out: Path, progress: bool = False) -> dict:
    """Unconditional samples (fig. 19) from mean + unit noise."""
    from ..report.figures import image_grid

    start = time.perf_counter()
    with torch.no_grad():
        result = descend("sample", config, progress, lambda callback: reverse_diffusion(
            denoiser, start_from(mean.to(denoiser.device), n, seed, config.sigma_start), seed, config, callback=callback))
    metrics = {"seed": seed, "diffusion": asdict(config), **cost(result, time.perf_counter() - start)}
    write_npz(out / "samples.npz", samples=pictures(result.samples), sigma=result.sigma, steps=result.steps)
    write_json(out / OUT_METRICS, metrics)
    image_grid(pictures(result.samples), out / "samples.png")
    return metrics


def inverse(denoiser: Denoiser, images: ImageSet, indices: list[int], task: str, mean: torch.Tensor, seed: int,
            config: DiffusionConfig, out: Path, progress: bool = False, **task_options) -> dict:
    """Solve x_c = Mᵀx for held-out images with the denoiser's prior; PSNR beside the pseudo-inverse M x_c."""
    from ..report.figures import image_grid

    x = stack_images(images, indices, Transform()).to(denoiser.device)
    operator = make_operator(task, tuple(x.shape[1:]), **task_options).to(denoiser.device)
    x_c = operator.measure(x)
    start = time.perf_counter()
    with torch.no_grad():
        result = descend(f"inverse {task}", config, progress, lambda callback: reverse_diffusion(
            denoiser, start_from(mean.to(x), len(x), seed, config.sigma_start), seed, config, operator=operator, measurement=x_c, callback=callback))
    pinv = operator.pseudo_inverse(x_c)
    metrics = {"task": task, "operator": repr(operator), "measurements": operator.m, "indices": list(indices), "seed": seed,
               "psnr": psnr(result.samples.clamp(0, 1), x).tolist(), "psnr_pseudo_inverse": psnr(pinv.clamp(0, 1), x).tolist(),
               "diffusion": asdict(config), **cost(result, time.perf_counter() - start)}
    metrics["psnr_mean"] = float(np.mean(metrics["psnr"]))
    metrics["psnr_pseudo_inverse_mean"] = float(np.mean(metrics["psnr_pseudo_inverse"]))
    rows = np.concatenate([pictures(x), pictures(pinv), pictures(result.samples)])
    write_npz(out / "inverse.npz", original=pictures(x), pseudo_inverse=pictures(pinv), result=pictures(result.samples), sigma=result.sigma)
    write_json(out / OUT_METRICS, metrics)
    image_grid(rows, out / "inverse.png", cols=len(x))
    return metrics


def phi_at(denoiser: Denoiser, x: torch.Tensor, sigma: float, draws: int, seed: int) -> torch.Tensor:
    """φ(x, σ) = E_z ā_mid(x + σz) of each image, z keyed by (seed, row, draw): the representation stage's estimator."""
    with torch.no_grad():
        return noise_averaged_means(denoiser, x.to(denoiser.device), list(range(len(x))), (sigma,), draws, seed)["mid"][:, 0]


def phi_error(denoiser: Denoiser, x: torch.Tensor, target: PhiTarget, rows: torch.Tensor, sigma: float, draws: int, seed: int) -> np.ndarray:
    """‖φ(x, σ) − φ_target(σ)‖ / ‖φ_target(σ)‖ per sample, φ noise-averaged as everywhere else."""
    phi = phi_at(denoiser, x, sigma, draws, seed + 1)
    want = target(torch.full((len(x),), sigma, device=phi.device), rows)
    return ((phi - want).norm(dim=1) / want.norm(dim=1).clamp_min(1e-12)).cpu().numpy()


def reconstruct(denoiser: Denoiser, target: PhiTarget, per_target: int, mean: torch.Tensor, seed: int, config: DiffusionConfig,
                guidance: GuidanceConfig, error_sigma: float = 0.2, draws: int = 8, progress: bool = False) -> tuple[Samples, PhiMatching, np.ndarray, float]:
    """`per_target` samples of p(x | φ) for every target row (Alg. 1), in one batch, their φ-match errors, and the seconds it took."""
    t_count = target.table.shape[0]
    rows = torch.arange(t_count, device=denoiser.device).repeat_interleave(per_target)
    match = PhiMatching(denoiser, target, guidance, rows=rows, seed=seed)
    start = time.perf_counter()
    result = descend("reconstruct", config, progress, lambda callback: reverse_diffusion(
        denoiser, start_from(mean.to(denoiser.device), len(rows), seed, config.sigma_start), seed, config, guidance=match, callback=callback))
    seconds = time.perf_counter() - start
    return result, match, phi_error(denoiser, result.samples.clamp(0, 1), target, rows, error_sigma, draws, seed), seconds


@dataclass
class Baselines:
    """What reconstructions are held against: random images of the targets' source, unguided samples from the same
    starts, and labelled training images for a class probe; φ of every set at `sigma` over `draws` noise draws."""

    random: torch.Tensor
    unguided: int
    target_labels: np.ndarray | None = None
    random_labels: np.ndarray | None = None
    train: torch.Tensor | None = None
    train_labels: np.ndarray | None = None
    sigma: float = 0.2
    draws: int = 8


def unguided_samples(denoiser: Denoiser, mean: torch.Tensor, n: int, seed: int, config: DiffusionConfig) -> tuple[Samples, float]:
    """The same sampler without φ, from the same starts as the first n guided samples (ids 0 … n − 1)."""
    start = time.perf_counter()
    with torch.no_grad():
        result = reverse_diffusion(denoiser, start_from(mean.to(denoiser.device), n, seed, config.sigma_start), seed, config)
    return result, time.perf_counter() - start


def assess_reconstruction(denoiser: Denoiser, shown: torch.Tensor, samples: torch.Tensor, per_target: int, unguided: torch.Tensor,
                          baselines: Baselines, seed: int) -> dict:
    """Every measure of assess.py for the guided samples beside unguided samples and random images (and a class probe)."""
    phi = lambda x, k: phi_at(denoiser, x, baselines.sigma, baselines.draws, seed + 100 + k)  # noqa: E731
    train = baselines.train.to(shown) if baselines.train is not None else None
    sets = [Images(x, phi(x, k), labels) for k, (x, labels) in enumerate(
        ((shown, baselines.target_labels), (samples, None), (unguided, None), (baselines.random.to(shown), baselines.random_labels)))]
    probe, probe_note = None, "no labelled training images given"
    if baselines.train is not None and baselines.train_labels is not None and baselines.target_labels is not None:
        probe = fit_probe(phi(train, 4).cpu().numpy(), baselines.train_labels, seed)
        probe_note = f"logistic regression on φ of {len(baselines.train)} labelled training images"
    result = assess(*sets[:2], per_target, *sets[2:], probe=probe, train=train)
    floor = relative_phi_distance(phi(shown, 5), sets[0].phi)  # two independent estimates of the target's own φ
    result |= {"phi_sigma": baselines.sigma, "phi_draws": baselines.draws, "probe": probe_note,
               "phi_distance_target_to_itself": floor.tolist(), "phi_distance_target_to_itself_median": float(np.median(floor))}
    if probe is not None:
        result["probe_accuracy_on_targets"] = float(np.mean(probe.predict(sets[0].phi.cpu().numpy()) == baselines.target_labels))
        result["probe_accuracy_on_random"] = float(np.mean(probe.predict(sets[3].phi.cpu().numpy()) == baselines.random_labels))
    return result


def reconstruct_stage(denoiser: Denoiser, target: PhiTarget, shown: torch.Tensor | None, targets: list[dict], per_target: int,
                      mean: torch.Tensor, seed: int, config: DiffusionConfig, guidance: GuidanceConfig, out: Path,
                      progress: bool = False, baselines: Baselines | None = None) -> dict:
    """Samples conditioned on each target φ (fig. 7), what matching achieved per call, σ̂ before and after every match
    (fig. 20), and with `baselines` and target images, how close the samples come to their targets beside chance.

    `targets` names each target row: {"label": text, and "source" + "image" (an image's index in it) or "rep" + "k" +
    "cluster"}, so that viewers can link the samples (row t's are samples[t·per_target : (t+1)·per_target]) to it."""
    from ..report.figures import image_grid, reconstruction_panels, sigma_match_figure

    result, match, error, seconds = reconstruct(denoiser, target, per_target, mean, seed, config, guidance, progress=progress)
    before = np.concatenate(match.log.sigma_before)
    ids = np.concatenate(match.log.ids)
    after = after_match(result, match)
    samples = pictures(result.samples)
    metrics = {"targets": targets, "per_target": per_target, "seed": seed, "phi_match_error": error.tolist(),
               "phi_match_error_median": float(np.median(error)), "diffusion": asdict(config), "guidance": asdict(guidance),
               "matching": match.log.summary(guidance.tolerance),
               "sigma_before_after_correlation": float(np.corrcoef(before, after)[0, 1]) if len(before) > 1 else None,
               **cost(result, seconds)}
    arrays = {"samples": samples, "targets": pictures(shown) if shown is not None else np.zeros(0), "sigma_before": before,
              "sigma_after": after, "ids": ids, "phi_match_error": error, "sigma": result.sigma,
              **{f"match_{k}": np.concatenate(getattr(match.log, k)) for k in ("first", "last", "iters")}}
    if baselines is not None and shown is not None:
        free, free_seconds = unguided_samples(denoiser, mean, baselines.unguided, seed, config)
        metrics["unguided_cost"] = cost(free, free_seconds)
        metrics["assessment"] = assess_reconstruction(denoiser, shown.to(result.samples), result.samples.clamp(0, 1), per_target,
                                                      free.samples.clamp(0, 1), baselines, seed)
        arrays |= {"unguided": pictures(free.samples), "random": pictures(baselines.random)}
    write_npz(out / "reconstruct.npz", **arrays)
    write_json(out / OUT_METRICS, metrics)
    grid = samples if shown is None else np.concatenate([np.concatenate([pictures(shown)[t : t + 1], samples[t * per_target : (t + 1) * per_target]]) for t in range(len(targets))])
    image_grid(grid, out / "reconstruct.png", cols=per_target + (shown is not None))
    if shown is not None:
        reconstruction_panels(pictures(shown), samples, out / "panels.png")
    sigma_match_figure(before, after, out / "sigma_match.png")
    return metrics


def after_match(result: Samples, match: PhiMatching) -> np.ndarray:
    """σ̂ measured by the engine right after each guidance call (step t of call t, per image)."""
    return np.concatenate([result.sigma[ids, t] for t, ids in enumerate(match.log.ids)])


def conditional_residual(denoiser: Denoiser, target: PhiTarget, row: int, guidance: GuidanceConfig):
    """f(y, σ) = D(g(y)) − y, with g the φ-matching onto target row `row` at σ: σ² times the score of p(y | φ)."""

    def f(y: torch.Tensor, sigma: float) -> torch.Tensor:
        rows = torch.full((len(y),), row, device=y.device)
        matched = PhiMatching(denoiser, target, guidance, rows=rows)(y, torch.full((len(y),), sigma, device=y.device), torch.arange(len(y), device=y.device))
        with torch.no_grad():
            return denoiser(matched) - y

    return f


def distance_stage(denoiser: Denoiser, images: ImageSet, pairs: list[tuple[int, int]], per_image: int, mean: torch.Tensor,
                   seed: int, config: DiffusionConfig, guidance: GuidanceConfig, target_sigmas: tuple[float, ...],
                   levels: int, phi_sigma: float, draws: int, out: Path, progress: bool = False) -> dict:
    """For each pair of images: samples of p(x | φ₁) and p(x | φ₂), d²(p₁, p₂) of eq. 4 against ‖φ₁ − φ₂‖² (eq. 3)."""
    from ..report.figures import distance_scatter

    chosen = sorted({i for pair in pairs for i in pair})
    row = {i: k for k, i in enumerate(chosen)}
    x = stack_images(images, chosen, Transform()).to(denoiser.device)
    target = target_from_images(denoiser, x, chosen, target_sigmas, draws, seed)
    result, _, error, seconds = reconstruct(denoiser, target, per_image, mean, seed, config, guidance, progress=progress)
    grid = sigma_grid(config.sigma_final, max(target_sigmas), levels)
    phi = target(torch.full((len(chosen),), phi_sigma, device=target.table.device), torch.arange(len(chosen), device=target.table.device))
    d2, phi2, parts = [], [], []
    start = time.perf_counter()
    for i, j in pairs:
        a, b = row[i], row[j]
        s1, s2 = (result.samples[k * per_image : (k + 1) * per_image].clamp(0, 1) for k in (a, b))
        est = density_distance(conditional_residual(denoiser, target, a, guidance), conditional_residual(denoiser, target, b, guidance), s1, s2, grid, seed)
        d2.append(est["d2"])
        phi2.append(float((phi[a] - phi[b]).square().sum()))
        parts.append(np.stack([est["integrand_1"], est["integrand_2"]]))
    embedding = euclidean_embedding(np.array(phi2), np.array(d2))
    metrics = {"pairs": [list(p) for p in pairs], "d2": d2, "phi_distance2": phi2, "phi_sigma": phi_sigma, "sigma_grid": grid.tolist(),
               "per_image": per_image, "phi_match_error_median": float(np.median(error)), **embedding,
               "paper_B_over_A": 2.9, "sampling_seconds": seconds, "distance_seconds": time.perf_counter() - start,
               "note": f"the σ integral covers [{grid[0]:.3g}, {grid[-1]:.3g}], the model's range, not (0, ∞)"}
    write_npz(out / "distance.npz", d2=np.array(d2), phi_distance2=np.array(phi2), integrands=np.array(parts), sigma_grid=grid)
    write_json(out / OUT_METRICS, metrics)
    distance_scatter(np.array(phi2), np.array(d2), embedding["A"], embedding["B"], out / "distance.png")
    return metrics
