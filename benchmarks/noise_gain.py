"""Why a reverse diffusion stalls: the part of the noise a denoiser leaves in (α > 0) or takes out twice (α < 0).

For y = x + e, α = ⟨D(y) − x, e⟩ / ‖e‖², over keyed noise draws at each σ, on a run's own training images (`a.npz`
or `b.npz` beside a generalize run's `a` or `b`). The sampler estimates σ̂ = ‖D(y) − y‖/√n = (1 − α)σ and injects noise scaled by σ̂, while each
step removes only a share β·h of it: with α < 0 and |α| ≳ β the noise stops shrinking.

    PYTHONPATH=src python benchmarks/noise_gain.py RUN [RUN ...] [--sigma 0.3 0.5 0.7 1.0] [--draws 64]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from denoscope import rng
from denoscope.checkpoint import load_denoiser
from denoscope.data import open_source, stack_images


def noise_gain(run: Path, sigmas: list[float], draws: int, seed: int = 0) -> list[tuple[float, float, float]]:
    """(σ, α, rms of D(y) − x) per σ for the run's training images (the .npz named after the run folder)."""
    images = open_source(str(run.parent / f"{run.name}.npz"))
    x = stack_images(images, torch.arange(draws).numpy() % len(images))
    d = load_denoiser(run)
    rows = []
    for i, sigma in enumerate(sigmas):
        e = sigma * rng.normal(rng.key(seed, torch.arange(draws), i), x.shape[1:])
        r = d(x + e) - x
        rows.append((sigma, float((r * e).sum() / (e * e).sum()), float(r.square().mean().sqrt())))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--sigma", nargs="+", type=float, default=[0.3, 0.5, 0.7, 1.0])
    parser.add_argument("--draws", type=int, default=64)
    args = parser.parse_args()
    torch.set_grad_enabled(False)
    print("| run | " + " | ".join(f"σ = {s:g}: α (rms D − x)" for s in args.sigma) + " |")
    print("|---|" + "---|" * len(args.sigma))
    for run in args.runs:
        cells = [f"{a:+.3f} ({e:.3f})" for _, a, e in noise_gain(run, args.sigma, args.draws)]
        print(f"| {run} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
