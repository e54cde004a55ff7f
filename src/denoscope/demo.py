"""The end-to-end pipeline on the built-in synthetic set, sized for a laptop CPU: train → denoise → represent →
analyse → samples and reconstructions → report, each stage reading the files of the one before."""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from rich.console import Console

from .analysis.findings import summary_line
from .analysis.run import analyse
from .checkpoint import load_denoiser
from .config import RunOptions, TrainConfig, model_config
from .data import open_source
from .data.dataset import mean_image
from .errors import OutputError
from .evaluate import denoise, summary_lines
from .io import check_writable, write_marker, written_by
from .reporting.analysis_figures import draw_analysis
from .reporting.build import build_report
from .reporting.figures import draw_denoise
from .representation import RepConfig, default_sigmas, represent
from .sampling.engine import DiffusionConfig
from .reporting.sampling_figures import draw_reconstruct, draw_sample
from .sampling.guidance import GuidanceConfig, target_from_clusters
from .sampling.stages import reconstruct, reconstruction, sample
from .training import train

SIGMAS = (0.05, 0.1, 0.2, 0.4, 1.0)
STAGE_FOLDERS = ("run", "denoise", "rep", "analysis", "samples", "reconstruct", "reconstruct-clusters", "report")


@dataclass(frozen=True)
class Recipe:
    """The demo's model, budget and sizes (the recipe experiments behind them are in benchmarks/RESULTS.md)."""

    preset: str = "small"
    steps: int = 600
    batch_size: int = 32
    lr: float = 1e-3
    lr_halve_every: float = 2.0
    sigma_max: float = 1.0
    ema: float | None = None
    train_images: int = 4096
    test_images: int = 256
    size: int = 32
    draws: int = 3
    samples: int = 8
    reconstructions: int = 2
    cluster_reconstructions: int = 2
    per_target: int = 4
    diffusion: DiffusionConfig = DiffusionConfig(h0=0.05, beta=0.05, max_steps=400)
    guidance: GuidanceConfig = GuidanceConfig(max_iters=5)


FULL = Recipe()
QUICK = Recipe(steps=30, train_images=256, test_images=96, draws=2, samples=2, per_target=2, reconstructions=1, cluster_reconstructions=1,
               diffusion=DiffusionConfig(h0=0.05, beta=0.05, max_steps=20), guidance=GuidanceConfig(max_iters=2))


def check_demo_folder(out: Path) -> None:
    """The demo replaces its own stage folders on a rerun, so it writes only into a new or empty folder, or one it wrote (its
    stage.json, or only its stage folders)."""
    check_writable(out, "demo output folder", stage="demo")
    if out.is_dir() and written_by(out) is None and any(p.name not in STAGE_FOLDERS for p in out.iterdir()):
        raise OutputError(f"{out} holds files that no demo wrote; the demo writes into a new or empty folder, or one it wrote before")


def run_demo(out: str | Path, seed: int = 0, quick: bool = False, console: Console | None = None, recipe: Recipe | None = None) -> dict:
    """Every stage on synthetic shapes (a rerun starts afresh in `out`); returns each stage's headline numbers."""
    console = console or Console(stderr=True)
    r = recipe or (QUICK if quick else FULL)
    out = Path(out)
    check_demo_folder(out)
    write_marker(out, "demo")
    train_source = f"synthetic:shapes?n={r.train_images}&size={r.size}&seed={seed}"
    test_source = f"synthetic:shapes?n={r.test_images}&size={r.size}&seed={seed + 1000}"
    for stage in STAGE_FOLDERS:
        shutil.rmtree(out / stage, ignore_errors=True)
    clock = time.perf_counter()
    times: dict[str, float] = {}

    def done(stage: str) -> None:
        nonlocal clock
        times[stage] = round(time.perf_counter() - clock, 1)
        clock = time.perf_counter()

    console.print(f"[bold]1/7 train[/] {r.preset} on {train_source}, {r.steps} steps of {r.batch_size} → {out / 'run'}")
    config = TrainConfig(data=train_source, batch_size=r.batch_size, holdout=64, lr=r.lr, lr_halve_every=r.lr_halve_every,
                         sigma_max=r.sigma_max, ema=r.ema, seed=seed, eval_sigmas=SIGMAS)
    options = RunOptions(steps=r.steps, eval_every=r.steps, checkpoint_every=r.steps, log_every=max(1, r.steps // 10), in_memory=True)
    weights = train(model_config(r.preset), config, options, out / "run")
    denoiser = load_denoiser(weights)
    done("train")

    console.print(f"[bold]2/7 denoise[/] held-out {test_source} → {out / 'denoise'}")
    test = open_source(test_source)
    denoised = denoise(denoiser, test, SIGMAS, seed=seed, max_images=64, progress=True)
    denoised.save(out / "denoise")
    draw_denoise(out / "denoise")
    for line in summary_lines(denoised.metrics):
        console.print("  " + line)
    done("denoise")

    console.print(f"[bold]3/7 represent[/] φ of {len(test)} held-out images → {out / 'rep'}")
    sigmas, _ = default_sigmas(r.sigma_max)
    rep = represent(denoiser, test, RepConfig(sigmas=sigmas, draws=r.draws, blocks=denoiser.config.block_names, inputs=True, seed=seed,
                                              maps=128), out / "rep", batch_images=32, progress=True)
    done("represent")

    console.print(f"[bold]4/7 analyse[/] → {out / 'analysis'}")
    ks = (8,)
    analysis = analyse(rep, test, ks=ks, seed=seed, progress=True)
    analysis.save(out / "analysis")
    draw_analysis(out / "analysis")
    analysis = analysis.metrics
    for f in analysis["findings"].values():
        console.print(f"  {summary_line(f)}", markup=False, highlight=False)
    if "factors" in analysis:
        for name, f in analysis["factors"]["factors"].items():
            console.print(f"  factor {name}: kNN from φ {f['knn_accuracy']:.2f}, from pixels {f['pixel_knn_accuracy']:.2f} (chance {f['chance']:.2f})")
    done("analyse")

    console.print(f"[bold]5/7 sample[/] {r.samples} unconditional samples → {out / 'samples'}")
    mean = mean_image(open_source(train_source))
    sampled = sample(denoiser, r.samples, seed, r.diffusion, mean=mean, progress=True)
    sampled.save(out / "samples")
    draw_sample(out / "samples")
    sampled = sampled.metrics
    console.print(f"  {sampled['converged']} of {r.samples} converged, {sampled['seconds_per_sample']:.2f} s per sample")
    done("sample")

    console.print(f"[bold]6/7 reconstruct[/] {r.per_target} samples from φ of each of {r.reconstructions} held-out images and "
                  f"{r.cluster_reconstructions} cluster centroids → {out / 'reconstruct'}, {out / 'reconstruct-clusters'}")
    rec = reconstruct(denoiser, images=test, index=list(range(r.reconstructions)), n=r.per_target, seed=seed, noise_draws=r.draws,
                      config=r.diffusion, guidance=r.guidance, baselines=0, mean=mean, progress=True)
    rec.save(out / "reconstruct")
    draw_reconstruct(out / "reconstruct")
    rec = rec.metrics
    k = ks[0]
    with np.load(out / "analysis" / "clusters.npz") as saved:
        assignment = saved[f"k{k}__assignment"]
    clusters = list(range(r.cluster_reconstructions))
    centroids = target_from_clusters(rep.sigmas, rep.means("mid"), assignment, clusters, denoiser.device)
    targets = [{"label": f"centroid of cluster {c} of {k} ({int((assignment == c).sum())} images)", "rep": str(out / "rep"), "k": k, "cluster": c}
               for c in clusters]
    rec_clusters = reconstruction(denoiser, centroids, None, targets, r.per_target, mean, seed, r.diffusion, r.guidance, progress=True)
    rec_clusters.save(out / "reconstruct-clusters")
    draw_reconstruct(out / "reconstruct-clusters")
    rec_clusters = rec_clusters.metrics
    console.print(f"  φ-match error (median) {rec['phi_match_error_median']:.3f} from images, {rec_clusters['phi_match_error_median']:.3f} from centroids")
    done("reconstruct")

    console.print(f"[bold]7/7 report[/] → {out / 'report'}")
    index = build_report([out / f for f in ("run", "rep", "denoise", "analysis", "samples", "reconstruct", "reconstruct-clusters")], out / "report",
                         title=f"denoscope demo (seed {seed}{', quick' if quick else ''})", progress=True)
    done("report")
    console.print(f"stage seconds: {times}")
    console.print(f"report: {index.resolve()}")
    return {"denoise": denoised.metrics, "analysis": analysis, "samples": sampled, "reconstruct": rec, "reconstruct_clusters": rec_clusters,
            "report": index, "seconds": times}
