"""The three uses of the engine, and the distance, as stages that compute and return a StageResult (numbers and
arrays in memory; `.save(out)` writes them, report.sampling_figures draws them). Nothing here writes or draws."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

from .. import rng
from ..data import ImageSet, Transform, stack_images
from ..denoiser import Denoiser
from ..errors import ConfigError, DataError
from ..evaluate import hwc
from ..metrics import psnr
from ..progress import sigma_descent, stage_bar
from ..representation import Representation
from ..results import StageResult
from .assess import Images, assess, fit_probe, relative_phi_distance
from .distance import density_distance, euclidean_embedding, sigma_grid
from .engine import DiffusionConfig, Samples, reverse_diffusion, start_from
from .guidance import GuidanceConfig, PhiMatching, PhiTarget, target_from_images
from .inputs import (Baselines, check_count, check_indices, check_sigma, choose_images, choose_pairs, cluster_targets, open_images,
                     reconstruction_baselines, start_image, target_sigmas)
from .operators import make_operator

ERROR_SIGMA, ERROR_DRAWS = 0.2, 8  # the φ-match error of a sample: φ at σ = 0.2 over 8 noise draws


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


def sample(d: Denoiser, n: int, seed: int = 0, config: DiffusionConfig = DiffusionConfig(), mean: torch.Tensor | str | None = None,
           progress: bool = False) -> StageResult:
    """Unconditional samples (fig. 19) from mean + unit noise; `mean` as in inputs.start_image."""
    check_count("n", n)
    mean, _ = start_image(d, mean)
    start = time.perf_counter()
    with torch.no_grad():
        result = descend("sample", config, progress, lambda callback: reverse_diffusion(
            d, start_from(mean.to(d.device), n, seed, config.sigma_start), seed, config, callback=callback))
    metrics = {"seed": seed, "diffusion": asdict(config), **cost(result, time.perf_counter() - start)}
    return StageResult("sample", metrics, {"samples": {"samples": pictures(result.samples), "sigma": result.sigma, "steps": result.steps}})


def inverse(d: Denoiser, images: ImageSet | str, task: str = "superres", n: int = 4, seed: int = 0,
            config: DiffusionConfig = DiffusionConfig(), mean: torch.Tensor | str | None = None, indices: Sequence[int] | None = None,
            progress: bool = False, **task_options) -> StageResult:
    """Solve x_c = Mᵀx for images of a source (`indices`, else a seeded choice of n) with the denoiser's prior; PSNR
    beside the pseudo-inverse M x_c."""
    check_count("n", n)
    images = open_images(images, d.config.channels)
    indices = choose_images(images, n, seed) if indices is None else [int(i) for i in indices]
    check_indices(images, indices)
    mean, _ = start_image(d, mean)
    transform, notes = to_start_size(images, indices, mean)
    x = stack_images(images, indices, transform).to(d.device)
    operator = make_operator(task, tuple(x.shape[1:]), **task_options).to(d.device)
    x_c = operator.measure(x)
    start = time.perf_counter()
    with torch.no_grad():
        result = descend(f"inverse {task}", config, progress, lambda callback: reverse_diffusion(
            d, start_from(mean.to(x), len(x), seed, config.sigma_start), seed, config, operator=operator, measurement=x_c, callback=callback))
    pinv = operator.pseudo_inverse(x_c)
    metrics = {"task": task, "operator": repr(operator), "measurements": operator.m, "indices": indices, "seed": seed,
               "psnr": psnr(result.samples.clamp(0, 1), x).tolist(), "psnr_pseudo_inverse": psnr(pinv.clamp(0, 1), x).tolist(),
               "diffusion": asdict(config), "notes": notes, **cost(result, time.perf_counter() - start)}
    metrics["psnr_mean"] = float(np.mean(metrics["psnr"]))
    metrics["psnr_pseudo_inverse_mean"] = float(np.mean(metrics["psnr_pseudo_inverse"]))
    arrays = {"original": pictures(x), "pseudo_inverse": pictures(pinv), "result": pictures(result.samples), "sigma": result.sigma}
    return StageResult("inverse", metrics, {"inverse": arrays})


def to_start_size(images: ImageSet, indices: Sequence[int], mean: torch.Tensor) -> tuple[Transform, list[str]]:
    """The solution has the start image's size (the model's training size): other images are center-cropped to a square
    and resized to it, said in a note; a start that is not square cannot take them."""
    h, w = mean.shape[-2:]
    sizes = {tuple(int(s) for s in images.sizes[i][:2]) for i in indices}
    if sizes == {(h, w)}:
        return Transform(), []
    if h != w:
        raise DataError(f"{images.name} holds images of other sizes than the {h}×{w} start image, which is not square; "
                        f"give images of {h}×{w}")
    shown = ", ".join(f"{a}×{b}" for a, b in sorted(sizes))
    return Transform(size=h, mode="resize"), [f"{len(indices)} image(s) of {shown} center-cropped and resized to the model's {h}×{w}"]


def phi_at(d: Denoiser, x: torch.Tensor, sigma: float, draws: int, seed: int, use: tuple[int, ...]) -> torch.Tensor:
    """φ(x, σ) of each image (N×C), noise-averaged by the one estimator, d.phi, its noise keyed by `use` too."""
    with torch.no_grad():
        return d.phi(x, (sigma,), draws, seed, use=use)[:, 0]


def phi_error(d: Denoiser, x: torch.Tensor, target: PhiTarget, rows: torch.Tensor, sigma: float, draws: int, seed: int) -> np.ndarray:
    """‖φ(x, σ) − φ_target(σ)‖ / ‖φ_target(σ)‖ per sample, φ noise-averaged as everywhere else."""
    phi = phi_at(d, x, sigma, draws, seed, (rng.NOISE_USES["phi-error"],))
    want = target(torch.full((len(x),), sigma, device=phi.device), rows)
    return ((phi - want).norm(dim=1) / want.norm(dim=1).clamp_min(1e-12)).cpu().numpy()


def guided_samples(d: Denoiser, target: PhiTarget, per_target: int, mean: torch.Tensor, seed: int, config: DiffusionConfig,
           guidance: GuidanceConfig, progress: bool = False) -> tuple[Samples, PhiMatching, np.ndarray, float]:
    """`per_target` samples of p(x | φ) for every target row (Alg. 1), in one batch, their φ-match errors, and the
    seconds it took."""
    rows = torch.arange(target.table.shape[0], device=d.device).repeat_interleave(per_target)
    match = PhiMatching(d, target, guidance, rows=rows, seed=seed)
    start = time.perf_counter()
    result = descend("reconstruct", config, progress, lambda callback: reverse_diffusion(
        d, start_from(mean.to(d.device), len(rows), seed, config.sigma_start), seed, config, guidance=match, callback=callback))
    seconds = time.perf_counter() - start
    return result, match, phi_error(d, result.samples.clamp(0, 1), target, rows, ERROR_SIGMA, ERROR_DRAWS, seed), seconds


def unguided_samples(d: Denoiser, mean: torch.Tensor, n: int, seed: int, config: DiffusionConfig) -> tuple[Samples, float]:
    """The same sampler without φ, from the same starts as the first n guided samples (ids 0 … n − 1)."""
    start = time.perf_counter()
    with torch.no_grad():
        result = reverse_diffusion(d, start_from(mean.to(d.device), n, seed, config.sigma_start), seed, config)
    return result, time.perf_counter() - start


def assess_reconstruction(d: Denoiser, shown: torch.Tensor, samples: torch.Tensor, per_target: int, unguided: torch.Tensor,
                          baselines: Baselines, seed: int) -> dict:
    """Every measure of assess.py for the guided samples beside unguided samples and random images (and a class probe)."""
    phi = lambda x, k: phi_at(d, x, baselines.sigma, baselines.draws, seed, (rng.NOISE_USES["assess-phi"], k))  # noqa: E731
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


def reconstruct(d: Denoiser, *, images: ImageSet | str | None = None, index: Sequence[int] | None = None,
                rep: Representation | str | Path | None = None, cluster: int | Sequence[int] | None = None, k: int = 10,
                phi_sigma: float = 0.5, n: int = 8, seed: int = 0, noise_draws: int = 8, config: DiffusionConfig = DiffusionConfig(),
                guidance: GuidanceConfig = GuidanceConfig(), baselines: int = 8, probe_data: ImageSet | str | None = None,
                probe_images: int = 1000, assess_sigma: float = 0.2, mean: torch.Tensor | str | None = None,
                progress: bool = False) -> StageResult:
    """n samples of p(x | φ) for each target (fig. 7, Alg. 1): φ of target images (`images` with `index`; `noise_draws`
    per σ) or the centroid of K-means clusters of a REP (`rep` with `cluster`, k clusters of φ at `phi_sigma`). Image
    targets are held against `baselines` unguided samples and random images (0: none) and a class probe trained on
    `probe_images` labelled images of `probe_data`, φ compared at `assess_sigma`."""
    if (images is None or not index) == (rep is None or cluster is None):
        raise ConfigError("give either images with index (target images) or rep with cluster (a centroid)")
    check_count("n", n)
    check_count("noise_draws", noise_draws)
    check_count("baselines", baselines, 0)
    check_count("probe_images", probe_images)
    check_sigma("assess_sigma", assess_sigma)
    check_sigma("phi_sigma", phi_sigma)
    mean, _ = start_image(d, mean)
    chance = None
    if rep is None:
        images = open_images(images, d.config.channels)
        index = [int(i) for i in index]
        check_indices(images, index)
        shown = stack_images(images, index, Transform())
        target = target_from_images(d, shown, index, target_sigmas(d), noise_draws, seed)
        targets = [{"label": f"{images.name}[{i}]", "source": images.name, "image": i} for i in index]
        if baselines:
            chance = reconstruction_baselines(images, index, baselines, probe_data, probe_images, assess_sigma, noise_draws, seed, d.config.channels)
    else:
        shown = None
        target, targets = cluster_targets(d, rep, [cluster] if isinstance(cluster, int) else list(cluster), k, phi_sigma, seed)
    return reconstruction(d, target, shown, targets, n, mean, seed, config, guidance, progress, chance)


def reconstruction(d: Denoiser, target: PhiTarget, shown: torch.Tensor | None, targets: list[dict], per_target: int,
                   mean: torch.Tensor, seed: int, config: DiffusionConfig, guidance: GuidanceConfig, progress: bool = False,
                   baselines: Baselines | None = None) -> StageResult:
    """Samples conditioned on each target φ (fig. 7), what matching achieved per call, σ̂ before and after every match
    (fig. 20), and with `baselines` and target images, how close the samples come to their targets beside chance.

    `targets` names each target row: {"label": text, and "source" + "image" (an image's index in it) or "rep" + "k" +
    "cluster"}, so that viewers can link the samples (row t's are samples[t·per_target : (t+1)·per_target]) to it."""
    result, match, error, seconds = guided_samples(d, target, per_target, mean, seed, config, guidance, progress=progress)
    before = np.concatenate(match.log.sigma_before)
    ids = np.concatenate(match.log.ids)
    after = after_match(result, match)
    metrics = {"targets": targets, "per_target": per_target, "seed": seed, "phi_match_error": error.tolist(),
               "phi_match_error_median": float(np.median(error)), "diffusion": asdict(config), "guidance": asdict(guidance),
               "matching": match.log.summary(guidance.tolerance),
               "sigma_before_after_correlation": float(np.corrcoef(before, after)[0, 1]) if len(before) > 1 else None,
               **cost(result, seconds)}
    arrays = {"samples": pictures(result.samples), "targets": pictures(shown) if shown is not None else np.zeros(0), "sigma_before": before,
              "sigma_after": after, "ids": ids, "phi_match_error": error, "sigma": result.sigma,
              **{f"match_{k}": np.concatenate(getattr(match.log, k)) for k in ("first", "last", "iters")}}
    if baselines is not None and shown is not None:
        free, free_seconds = unguided_samples(d, mean, baselines.unguided, seed, config)
        metrics["unguided_cost"] = cost(free, free_seconds)
        metrics["assessment"] = assess_reconstruction(d, shown.to(result.samples), result.samples.clamp(0, 1), per_target,
                                                      free.samples.clamp(0, 1), baselines, seed)
        arrays |= {"unguided": pictures(free.samples), "random": pictures(baselines.random)}
    return StageResult("reconstruct", metrics, {"reconstruct": arrays})


def after_match(result: Samples, match: PhiMatching) -> np.ndarray:
    """σ̂ measured by the engine right after each guidance call (step t of call t, per image)."""
    return np.concatenate([result.sigma[ids, t] for t, ids in enumerate(match.log.ids)])


def conditional_residual(d: Denoiser, target: PhiTarget, row: int, guidance: GuidanceConfig):
    """f(y, σ) = D(g(y)) − y, with g the φ-matching onto target row `row` at σ: σ² times the score of p(y | φ)."""

    def f(y: torch.Tensor, sigma: float) -> torch.Tensor:
        rows = torch.full((len(y),), row, device=y.device)
        matched = PhiMatching(d, target, guidance, rows=rows)(y, torch.full((len(y),), sigma, device=y.device), torch.arange(len(y), device=y.device))
        with torch.no_grad():
            return d(matched) - y

    return f


def distance(d: Denoiser, images: ImageSet | str, pairs: int | Sequence[tuple[int, int]] = 50, n: int = 4, levels: int = 8,
             phi_sigma: float = 0.5, noise_draws: int = 8, seed: int = 0, config: DiffusionConfig = DiffusionConfig(),
             guidance: GuidanceConfig = GuidanceConfig(), mean: torch.Tensor | str | None = None, progress: bool = False) -> StageResult:
    """For each pair of images (`pairs` given, or that many seeded random pairs): n samples of p(x | φ₁) and of
    p(x | φ₂), d²(p₁, p₂) of eq. 4 against ‖φ₁ − φ₂‖² at `phi_sigma` (eq. 3), over `levels` σ of the model's range."""
    check_count("n", n)
    check_sigma("phi_sigma", phi_sigma)
    check_count("noise_draws", noise_draws)
    images = open_images(images, d.config.channels)
    pairs = choose_pairs(images, pairs, seed) if isinstance(pairs, int) else [(int(i), int(j)) for i, j in pairs]
    chosen = sorted({i for pair in pairs for i in pair})
    check_indices(images, chosen)
    mean, _ = start_image(d, mean)
    row = {i: k for k, i in enumerate(chosen)}
    x = stack_images(images, chosen, Transform()).to(d.device)
    sigmas = target_sigmas(d)
    target = target_from_images(d, x, chosen, sigmas, noise_draws, seed)
    result, _, error, seconds = guided_samples(d, target, n, mean, seed, config, guidance, progress=progress)
    grid = sigma_grid(config.sigma_final, max(sigmas), levels)
    phi = target(torch.full((len(chosen),), phi_sigma, device=target.table.device), torch.arange(len(chosen), device=target.table.device))
    d2, phi2, parts = [], [], []
    start = time.perf_counter()
    for i, j in pairs:
        a, b = row[i], row[j]
        s1, s2 = (result.samples[k * n : (k + 1) * n].clamp(0, 1) for k in (a, b))
        est = density_distance(conditional_residual(d, target, a, guidance), conditional_residual(d, target, b, guidance), s1, s2, grid, seed)
        d2.append(est["d2"])
        phi2.append(float((phi[a] - phi[b]).square().sum()))
        parts.append(np.stack([est["integrand_1"], est["integrand_2"]]))
    embedding = euclidean_embedding(np.array(phi2), np.array(d2))
    metrics = {"image_pairs": [list(p) for p in pairs], "d2": d2, "phi_distance2": phi2, "phi_sigma": phi_sigma, "sigma_grid": grid.tolist(),
               "per_image": n, "phi_match_error_median": float(np.median(error)), **embedding,
               "paper_B_over_A": 2.9, "sampling_seconds": seconds, "distance_seconds": time.perf_counter() - start,
               "note": f"the σ integral covers [{grid[0]:.3g}, {grid[-1]:.3g}], the model's range, not (0, ∞)"}
    arrays = {"d2": np.array(d2), "phi_distance2": np.array(phi2), "integrands": np.array(parts), "sigma_grid": grid}
    return StageResult("distance", metrics, {"distance": arrays})
